-- Hourly rollups for the cost-spike runbook's six diagnostics, kept current by statement-level
-- AFTER INSERT triggers (transition tables: one aggregate per statement, so a bulk load of past
-- hours costs one pass). Every stored figure is a sum, a count or a histogram, from which the
-- seed's SQL results (SUM, AVG, COUNT(DISTINCT), PERCENTILE_CONT) follow exactly.
--
-- Hours are UTC hours (date_trunc with 'UTC', independent of the inserting session's TimeZone);
-- they equal the seed's DATE_TRUNC('hour'/'day', ...) buckets in any session time zone whose
-- offset is a whole number of hours. Events are insert-only (DESIGN.md); TRUNCATE empties the
-- rollups too, and telemetry_rebuild_rollups() recomputes them after any other change.
-- The functions keep the search_path they were created with, so a trigger finds its rollups
-- whatever the inserting session's search_path. NULLS NOT DISTINCT needs Postgres 15+.

CREATE TABLE IF NOT EXISTS inference_hourly (
  hour          timestamptz NOT NULL,
  feature       text,
  trigger_type  text,
  requests      bigint NOT NULL,
  cost_usd      numeric NOT NULL,
  input_tokens  bigint NOT NULL,
  output_tokens bigint NOT NULL,
  CONSTRAINT inference_hourly_key UNIQUE NULLS NOT DISTINCT (hour, feature, trigger_type)
);

-- One row per (hour, user): exact COUNT(DISTINCT user_id) across late arrivals.
CREATE TABLE IF NOT EXISTS inference_hourly_users (
  hour    timestamptz NOT NULL,
  user_id text NOT NULL,
  PRIMARY KEY (hour, user_id)
);
-- The per-hour count of those rows, so the 48-hour query reads 48 rows, not every user.
CREATE TABLE IF NOT EXISTS inference_hourly_user_counts (
  hour  timestamptz PRIMARY KEY,
  users bigint NOT NULL
);

-- Token-value histograms per hour (kind 'i' input, 'o' output): PERCENTILE_CONT is read from the
-- top 5 % of one hour's values instead of sorting all of them.
CREATE TABLE IF NOT EXISTS inference_hourly_tokens (
  hour   timestamptz NOT NULL,
  kind   "char" NOT NULL,
  tokens integer NOT NULL,
  n      integer NOT NULL,
  PRIMARY KEY (hour, kind, tokens)
);

CREATE TABLE IF NOT EXISTS tool_calls_hourly (
  hour      timestamptz NOT NULL,
  tool_name text NOT NULL,
  calls     bigint NOT NULL,
  failures  bigint NOT NULL,
  retries   bigint NOT NULL,
  PRIMARY KEY (hour, tool_name)
);

-- Adds one batch of events (a transition table or a snapshot) to the rollups. Keys are sorted so
-- concurrent inserters lock rollup rows in the same order and do not deadlock.
CREATE OR REPLACE FUNCTION telemetry_rollup_inference() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO inference_hourly AS r (hour, feature, trigger_type, requests, cost_usd, input_tokens, output_tokens)
  SELECT date_trunc('hour', created_at, 'UTC'), feature, trigger_type, count(*), sum(cost_usd),
         sum(input_tokens), sum(output_tokens)
  FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT ON CONSTRAINT inference_hourly_key DO UPDATE SET
    requests = r.requests + excluded.requests,
    cost_usd = r.cost_usd + excluded.cost_usd,
    input_tokens = r.input_tokens + excluded.input_tokens,
    output_tokens = r.output_tokens + excluded.output_tokens;

  -- Only (hour, user) pairs not seen before raise the hour's distinct count.
  WITH fresh AS (
    INSERT INTO inference_hourly_users (hour, user_id)
    SELECT DISTINCT date_trunc('hour', created_at, 'UTC'), user_id FROM new_rows
    WHERE user_id IS NOT NULL ORDER BY 1, 2
    ON CONFLICT DO NOTHING RETURNING hour
  )
  INSERT INTO inference_hourly_user_counts AS c (hour, users)
  SELECT hour, count(*) FROM fresh GROUP BY 1 ORDER BY 1
  ON CONFLICT (hour) DO UPDATE SET users = c.users + excluded.users;

  INSERT INTO inference_hourly_tokens AS t (hour, kind, tokens, n)
  SELECT hour, kind, tokens, count(*) FROM (
    SELECT date_trunc('hour', created_at, 'UTC') AS hour, 'i'::"char" AS kind, input_tokens AS tokens FROM new_rows
    UNION ALL
    SELECT date_trunc('hour', created_at, 'UTC'), 'o'::"char", output_tokens FROM new_rows
  ) v GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (hour, kind, tokens) DO UPDATE SET n = t.n + excluded.n;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION telemetry_rollup_tool_calls() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO tool_calls_hourly AS r (hour, tool_name, calls, failures, retries)
  SELECT date_trunc('hour', created_at, 'UTC'), tool_name, count(*), count(*) FILTER (WHERE success = false),
         sum(retries)
  FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (hour, tool_name) DO UPDATE SET
    calls = r.calls + excluded.calls,
    failures = r.failures + excluded.failures,
    retries = r.retries + excluded.retries;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION telemetry_truncate_inference_rollups() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  TRUNCATE inference_hourly, inference_hourly_users, inference_hourly_user_counts, inference_hourly_tokens;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION telemetry_truncate_tool_rollups() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  TRUNCATE tool_calls_hourly;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS inference_events_rollup ON inference_events;
CREATE TRIGGER inference_events_rollup AFTER INSERT ON inference_events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION telemetry_rollup_inference();
DROP TRIGGER IF EXISTS inference_events_truncate_rollups ON inference_events;
CREATE TRIGGER inference_events_truncate_rollups AFTER TRUNCATE ON inference_events
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry_truncate_inference_rollups();
DROP TRIGGER IF EXISTS tool_calls_rollup ON tool_calls;
CREATE TRIGGER tool_calls_rollup AFTER INSERT ON tool_calls
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION telemetry_rollup_tool_calls();
DROP TRIGGER IF EXISTS tool_calls_truncate_rollups ON tool_calls;
CREATE TRIGGER tool_calls_truncate_rollups AFTER TRUNCATE ON tool_calls
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry_truncate_tool_rollups();

-- Recomputes every rollup from the raw tables: the backfill below, and the repair after an
-- UPDATE or DELETE (which the triggers do not follow). Takes the tables' write locks meanwhile.
CREATE OR REPLACE FUNCTION telemetry_rebuild_rollups() RETURNS void LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  LOCK TABLE inference_events, tool_calls IN SHARE MODE;
  TRUNCATE inference_hourly, inference_hourly_users, inference_hourly_user_counts, inference_hourly_tokens,
    tool_calls_hourly;
  INSERT INTO inference_hourly (hour, feature, trigger_type, requests, cost_usd, input_tokens, output_tokens)
  SELECT date_trunc('hour', created_at, 'UTC'), feature, trigger_type, count(*), sum(cost_usd),
         sum(input_tokens), sum(output_tokens)
  FROM inference_events GROUP BY 1, 2, 3;
  INSERT INTO inference_hourly_users (hour, user_id)
  SELECT DISTINCT date_trunc('hour', created_at, 'UTC'), user_id FROM inference_events WHERE user_id IS NOT NULL;
  INSERT INTO inference_hourly_user_counts (hour, users) SELECT hour, count(*) FROM inference_hourly_users GROUP BY 1;
  INSERT INTO inference_hourly_tokens (hour, kind, tokens, n)
  SELECT hour, kind, tokens, count(*) FROM (
    SELECT date_trunc('hour', created_at, 'UTC') AS hour, 'i'::"char" AS kind, input_tokens AS tokens FROM inference_events
    UNION ALL
    SELECT date_trunc('hour', created_at, 'UTC'), 'o'::"char", output_tokens FROM inference_events
  ) v GROUP BY 1, 2, 3;
  INSERT INTO tool_calls_hourly (hour, tool_name, calls, failures, retries)
  SELECT date_trunc('hour', created_at, 'UTC'), tool_name, count(*), count(*) FILTER (WHERE success = false),
         sum(retries)
  FROM tool_calls GROUP BY 1, 2;
END $$;

SELECT telemetry_rebuild_rollups();
