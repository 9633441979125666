-- Hourly rollups of the LLM app's telemetry for the cost-spike diagnostics, kept in this project's
-- own store so the app's database is only read: the telemetry-rollup workflow aggregates whole UTC
-- hours there and writes them here. Every figure is one the seed's SQL results follow from exactly
-- (counts, sums with the count of non-NULL values they sum, distinct users and p95 per hour).
--
-- One row per app database (`source`: host:port/database, no credentials). The rollups hold every
-- hour in [coverage_from, settled_until); the diagnostics read hours from settled_until on (the
-- lateness window, where late rows still land) live from the app's database.
CREATE TABLE IF NOT EXISTS cost_rollup_sources (
  id             serial PRIMARY KEY,
  source         text NOT NULL UNIQUE,
  coverage_from  timestamptz NOT NULL,
  settled_until  timestamptz NOT NULL,
  -- The lateness of the pass that settled the last hour: how far behind `now` settled_until may be.
  lateness       interval NOT NULL,
  -- The app database's now() at the last pass, and the highest id each table had then (NULL: no
  -- usable id column, late rows beyond the lateness are not seen).
  checked_at     timestamptz NOT NULL,
  events_last_id bigint,
  tools_last_id  bigint,
  passes         bigint NOT NULL DEFAULT 0
);

-- Per hour: what steps 1, 2 and 4 read (hourly cost, requests and users, token averages and p95).
CREATE TABLE IF NOT EXISTS cost_rollup_hours (
  source_id  integer NOT NULL REFERENCES cost_rollup_sources (id) ON DELETE CASCADE,
  hour       timestamptz NOT NULL,
  requests   bigint NOT NULL,
  cost_sum   numeric,
  cost_n     bigint NOT NULL,
  users      bigint NOT NULL,
  input_sum  numeric,
  input_n    bigint NOT NULL,
  output_sum numeric,
  output_n   bigint NOT NULL,
  p95_input  double precision,
  p95_output double precision,
  PRIMARY KEY (source_id, hour)
);

-- Per hour, feature and trigger_type: steps 3 and 5 (trigger types, hidden ratio, feature cost).
CREATE TABLE IF NOT EXISTS cost_rollup_groups (
  source_id    integer NOT NULL REFERENCES cost_rollup_sources (id) ON DELETE CASCADE,
  hour         timestamptz NOT NULL,
  feature      text,
  trigger_type text,
  requests     bigint NOT NULL,
  cost_sum     numeric
);
CREATE INDEX IF NOT EXISTS cost_rollup_groups_hour ON cost_rollup_groups (source_id, hour);

-- Per hour and tool: step 6.
CREATE TABLE IF NOT EXISTS cost_rollup_tools (
  source_id   integer NOT NULL REFERENCES cost_rollup_sources (id) ON DELETE CASCADE,
  hour        timestamptz NOT NULL,
  tool_name   text,
  calls       bigint NOT NULL,
  failures    bigint NOT NULL,
  retries_sum numeric,
  retries_n   bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS cost_rollup_tools_hour ON cost_rollup_tools (source_id, hour);
