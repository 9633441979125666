// The cost-spike runbook's six diagnostics over the LLM app's telemetry (seed 003), answered from
// the hourly rollups of migration telemetry/002 with the same numbers as the seed's SQL.
//
// Each window is `created_at > now - W` with no upper bound, like the seed's. The hour holding the
// window's start is only partly inside it, so it is computed live from the raw table (via the
// created_at index); every later hour, the current and any future one included, is whole inside
// the window and read from the rollups, which the insert triggers keep current in the inserting
// transaction. Hour buckets are UTC hours; day buckets follow the session's TimeZone like the
// seed's DATE_TRUNC('day', ...), exact for whole-hour UTC offsets.
//
// numeric results come back from pg as strings (exact); float8 ones as numbers.
import type { Pool } from 'pg';

/** Hours covered by the seed's 48-hour queries and days by its 7-day ones. */
export const WINDOW_48H = '48 hours';
export const WINDOW_7D = '7 days';

export interface HourlyCostRow {
  hour: Date;
  requests: string;
  total_cost: string;
  avg_cost_per_request: string;
}
export interface TrafficRow {
  hour: Date;
  requests: string;
  unique_users: string;
  total_cost: string;
  cost_per_request: string;
}
export interface TriggerRow {
  hour: Date;
  trigger_type: string | null;
  count: string;
  cost: string;
}
export interface HiddenRatioRow {
  day: Date;
  total: string;
  hidden: string;
  hidden_ratio: number;
}
export interface TokenRow {
  hour: Date;
  avg_input: string;
  avg_output: string;
  p95_input: number;
  p95_output: number;
}
export interface FeatureRow {
  day: Date;
  feature: string | null;
  requests: string;
  total_cost: string;
  cost_per_request: string;
}
export interface ToolFailureRow {
  tool_name: string;
  total_calls: string;
  failures: string;
  failure_rate: number;
  avg_retries: string;
}

export type DiagnosticName =
  'hourlyCost' | 'traffic' | 'triggers' | 'hiddenRatio' | 'tokens' | 'features' | 'toolFailures';

/**
 * The seed's SQL as written (`../shared/seeds/003_*.txt`, steps 1-6), NOW() excepted: SEED_SQL_AT
 * binds it to $1 so a test or a drill can pin the clock.
 */
export const SEED_SQL: Record<DiagnosticName, string> = {
  hourlyCost: `SELECT 
  DATE_TRUNC('hour', created_at) as hour,
  COUNT(*) as requests,
  SUM(cost_usd) as total_cost,
  AVG(cost_usd) as avg_cost_per_request
FROM inference_events
WHERE created_at > NOW() - INTERVAL '48 hours'
GROUP BY 1
ORDER BY 1;`,
  traffic: `SELECT 
  DATE_TRUNC('hour', created_at) as hour,
  COUNT(*) as requests,
  COUNT(DISTINCT user_id) as unique_users,
  SUM(cost_usd) as total_cost,
  SUM(cost_usd) / COUNT(*) as cost_per_request
FROM inference_events
WHERE created_at > NOW() - INTERVAL '48 hours'
GROUP BY 1
ORDER BY 1;`,
  triggers: `SELECT 
  DATE_TRUNC('hour', created_at) as hour,
  trigger_type,
  COUNT(*) as count,
  SUM(cost_usd) as cost
FROM inference_events
WHERE created_at > NOW() - INTERVAL '48 hours'
GROUP BY 1, 2
ORDER BY 1, 2;`,
  hiddenRatio: `SELECT 
  DATE_TRUNC('day', created_at) as day,
  COUNT(*) as total,
  SUM(CASE WHEN trigger_type IN ('undo', 'retry', 'auto_save') THEN 1 ELSE 0 END) as hidden,
  SUM(CASE WHEN trigger_type IN ('undo', 'retry', 'auto_save') THEN 1 ELSE 0 END)::float / COUNT(*) as hidden_ratio
FROM inference_events
WHERE created_at > NOW() - INTERVAL '7 days'
GROUP BY 1
ORDER BY 1;`,
  tokens: `SELECT 
  DATE_TRUNC('hour', created_at) as hour,
  AVG(input_tokens) as avg_input,
  AVG(output_tokens) as avg_output,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY input_tokens) as p95_input,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY output_tokens) as p95_output
FROM inference_events
WHERE created_at > NOW() - INTERVAL '48 hours'
GROUP BY 1
ORDER BY 1;`,
  features: `SELECT 
  DATE_TRUNC('day', created_at) as day,
  feature,
  COUNT(*) as requests,
  SUM(cost_usd) as total_cost,
  SUM(cost_usd) / COUNT(*) as cost_per_request
FROM inference_events
WHERE created_at > NOW() - INTERVAL '7 days'
GROUP BY 1, 2
ORDER BY 1, total_cost DESC;`,
  toolFailures: `SELECT 
  tool_name,
  COUNT(*) as total_calls,
  SUM(CASE WHEN success = false THEN 1 ELSE 0 END) as failures,
  SUM(CASE WHEN success = false THEN 1 ELSE 0 END)::float / COUNT(*) as failure_rate,
  AVG(retries) as avg_retries
FROM tool_calls
WHERE created_at > NOW() - INTERVAL '48 hours'
GROUP BY 1
ORDER BY failures DESC;`,
};

export const DIAGNOSTICS = Object.keys(SEED_SQL) as DiagnosticName[];

/** The seed's SQL with NOW() as $1 (timestamptz): the reference the fast queries must equal. */
export const SEED_SQL_AT: Record<DiagnosticName, string> = Object.fromEntries(
  DIAGNOSTICS.map((name) => [name, SEED_SQL[name].replace(/NOW\(\)/g, '$1::timestamptz')]),
) as Record<DiagnosticName, string>;

// $1 = now, $2 = window. `lo` is the window's exclusive start; hours from `whole` on lie wholly
// inside the window and come from the rollups, the partial hour before it from the raw table.
const BOUNDS = `bounds AS (
  SELECT $1::timestamptz - $2::interval AS lo,
         date_trunc('hour', $1::timestamptz - $2::interval, 'UTC') + interval '1 hour' AS whole
)`;
const LIVE_EVENTS = `SELECT e.* FROM inference_events e, bounds b WHERE e.created_at > b.lo AND e.created_at < b.whole`;
const ROLLUP_HOURS = `SELECT h.* FROM inference_hourly h, bounds b WHERE h.hour >= b.whole`;

// Per hour: the seed's AVG(numeric) is SUM / COUNT as numeric, so these divisions give its digits.
const FAST_SQL: Record<DiagnosticName, string> = {
  hourlyCost: `WITH ${BOUNDS}, per_hour AS (
  SELECT hour, sum(requests) AS requests, sum(cost_usd) AS total_cost FROM (${ROLLUP_HOURS}) h GROUP BY hour
  UNION ALL
  SELECT date_trunc('hour', created_at, 'UTC'), count(*), sum(cost_usd) FROM (${LIVE_EVENTS}) e GROUP BY 1
)
SELECT hour, requests::bigint AS requests, total_cost, total_cost / requests AS avg_cost_per_request
FROM per_hour ORDER BY hour`,

  traffic: `WITH ${BOUNDS}, per_hour AS (
  SELECT h.hour, sum(h.requests) AS requests, sum(h.cost_usd) AS total_cost,
         coalesce((SELECT u.users FROM inference_hourly_user_counts u WHERE u.hour = h.hour), 0) AS unique_users
  FROM (${ROLLUP_HOURS}) h GROUP BY h.hour
  UNION ALL
  SELECT date_trunc('hour', created_at, 'UTC'), count(*), sum(cost_usd), count(DISTINCT user_id)
  FROM (${LIVE_EVENTS}) e GROUP BY 1
)
SELECT hour, requests::bigint AS requests, unique_users::bigint AS unique_users, total_cost,
       total_cost / requests AS cost_per_request
FROM per_hour ORDER BY hour`,

  triggers: `WITH ${BOUNDS}, per_hour AS (
  SELECT hour, trigger_type, sum(requests) AS count, sum(cost_usd) AS cost FROM (${ROLLUP_HOURS}) h GROUP BY 1, 2
  UNION ALL
  SELECT date_trunc('hour', created_at, 'UTC'), trigger_type, count(*), sum(cost_usd) FROM (${LIVE_EVENTS}) e GROUP BY 1, 2
)
SELECT hour, trigger_type, count::bigint AS count, cost FROM per_hour ORDER BY 1, 2`,

  // Days merge the partial hour with whole ones, so they sum parts rather than union rows.
  hiddenRatio: `WITH ${BOUNDS}, parts AS (
  SELECT hour, trigger_type, requests FROM (${ROLLUP_HOURS}) h
  UNION ALL
  SELECT created_at, trigger_type, 1 FROM (${LIVE_EVENTS}) e
), per_day AS (
  SELECT date_trunc('day', hour) AS day, sum(requests)::bigint AS total,
         coalesce(sum(requests) FILTER (WHERE trigger_type IN ('undo', 'retry', 'auto_save')), 0)::bigint AS hidden
  FROM parts GROUP BY 1
)
SELECT day, total, hidden, hidden::float8 / total AS hidden_ratio FROM per_day ORDER BY day`,

  // p95 as PERCENTILE_CONT computes it: rows f = floor(0.95 (n-1)) and s = ceil(0.95 (n-1)) of the
  // sorted values, interpolated by the fraction. Both rows lie in the top 5 %, so each hour's
  // histogram is walked from its largest value down and stops at row s, then f (LIMIT 2).
  tokens: `WITH ${BOUNDS}, whole_hours AS (
  SELECT hour, sum(requests) AS n, sum(input_tokens) AS input_sum, sum(output_tokens) AS output_sum
  FROM (${ROLLUP_HOURS}) h GROUP BY hour
), ranks AS (
  SELECT w.*, k.kind, floor(0.95::float8 * (w.n - 1)::float8)::bigint AS f, ceil(0.95::float8 * (w.n - 1)::float8)::bigint AS s,
         0.95::float8 * (w.n - 1)::float8 - floor(0.95::float8 * (w.n - 1)::float8) AS frac
  FROM whole_hours w CROSS JOIN (VALUES ('i'::"char"), ('o'::"char")) k(kind)
), p95 AS (
  SELECT r.hour, r.kind, pick.vf + r.frac * (pick.vs - pick.vf) AS p95
  FROM ranks r CROSS JOIN LATERAL (
    -- The walk yields row s's value first (the larger); row f is the same one or the next.
    SELECT max(top.tokens)::float8 AS vs,
           (CASE WHEN min(top.cum) >= r.n - r.f THEN max(top.tokens) ELSE min(top.tokens) END)::float8 AS vf
    FROM (
      SELECT c.tokens, c.cum FROM (
        SELECT t.tokens, sum(t.n) OVER (ORDER BY t.tokens DESC ROWS UNBOUNDED PRECEDING) AS cum
        FROM inference_hourly_tokens t WHERE t.hour = r.hour AND t.kind = r.kind ORDER BY t.tokens DESC
      ) c WHERE c.cum >= r.n - r.s LIMIT 2
    ) top
  ) pick
), per_hour AS (
  SELECT w.hour, w.input_sum::numeric / w.n AS avg_input, w.output_sum::numeric / w.n AS avg_output,
         pi.p95 AS p95_input, po.p95 AS p95_output
  FROM whole_hours w
  JOIN p95 pi ON pi.hour = w.hour AND pi.kind = 'i'
  JOIN p95 po ON po.hour = w.hour AND po.kind = 'o'
  UNION ALL
  SELECT date_trunc('hour', created_at, 'UTC'), avg(input_tokens), avg(output_tokens),
         percentile_cont(0.95) WITHIN GROUP (ORDER BY input_tokens),
         percentile_cont(0.95) WITHIN GROUP (ORDER BY output_tokens)
  FROM (${LIVE_EVENTS}) e GROUP BY 1
)
SELECT hour, avg_input, avg_output, p95_input, p95_output FROM per_hour ORDER BY hour`,

  features: `WITH ${BOUNDS}, parts AS (
  SELECT hour, feature, requests, cost_usd FROM (${ROLLUP_HOURS}) h
  UNION ALL
  SELECT created_at, feature, 1, cost_usd FROM (${LIVE_EVENTS}) e
), per_day AS (
  SELECT date_trunc('day', hour) AS day, feature, sum(requests)::bigint AS requests, sum(cost_usd) AS total_cost
  FROM parts GROUP BY 1, 2
)
SELECT day, feature, requests, total_cost, total_cost / requests AS cost_per_request
FROM per_day ORDER BY day, total_cost DESC, feature NULLS LAST`,

  toolFailures: `WITH ${BOUNDS}, parts AS (
  SELECT h.tool_name, h.calls, h.failures, h.retries FROM tool_calls_hourly h, bounds b WHERE h.hour >= b.whole
  UNION ALL
  SELECT c.tool_name, 1, CASE WHEN c.success = false THEN 1 ELSE 0 END, c.retries
  FROM tool_calls c, bounds b WHERE c.created_at > b.lo AND c.created_at < b.whole
), per_tool AS (
  SELECT tool_name, sum(calls)::bigint AS total_calls, sum(failures)::bigint AS failures, sum(retries) AS retries
  FROM parts GROUP BY 1
)
SELECT tool_name, total_calls, failures, failures::float8 / total_calls AS failure_rate,
       retries::numeric / total_calls AS avg_retries
FROM per_tool ORDER BY failures DESC, tool_name`,
};

const WINDOWS: Record<DiagnosticName, string> = {
  hourlyCost: WINDOW_48H,
  traffic: WINDOW_48H,
  triggers: WINDOW_48H,
  hiddenRatio: WINDOW_7D,
  tokens: WINDOW_48H,
  features: WINDOW_7D,
  toolFailures: WINDOW_48H,
};

export interface DiagnosticRows {
  hourlyCost: HourlyCostRow;
  traffic: TrafficRow;
  triggers: TriggerRow;
  hiddenRatio: HiddenRatioRow;
  tokens: TokenRow;
  features: FeatureRow;
  toolFailures: ToolFailureRow;
}

/** Runs one diagnostic the fast way (rollups) or as the seed wrote it, at `now`. */
export async function runDiagnostic<K extends DiagnosticName>(
  pool: Pool,
  name: K,
  now: Date,
  how: 'fast' | 'seed' = 'fast',
): Promise<DiagnosticRows[K][]> {
  const result =
    how === 'fast'
      ? await pool.query(FAST_SQL[name], [now, WINDOWS[name]])
      : await pool.query(SEED_SQL_AT[name], [now]);
  return result.rows as DiagnosticRows[K][];
}

export interface TelemetryQueries {
  /** Step 1: requests, cost and average cost per hour over 48 h. */
  hourlyCost(now: Date): Promise<HourlyCostRow[]>;
  /** Step 2: requests, distinct users, cost and cost per request per hour over 48 h. */
  traffic(now: Date): Promise<TrafficRow[]>;
  /** Step 3: count and cost per hour and trigger_type over 48 h. */
  triggers(now: Date): Promise<TriggerRow[]>;
  /** Step 3: the daily share of undo / retry / auto_save over 7 days. */
  hiddenRatio(now: Date): Promise<HiddenRatioRow[]>;
  /** Step 4: average and p95 input / output tokens per hour over 48 h. */
  tokens(now: Date): Promise<TokenRow[]>;
  /** Step 5: requests, cost and cost per request per day and feature over 7 days. */
  features(now: Date): Promise<FeatureRow[]>;
  /** Step 6: calls, failures, failure rate and average retries per tool over 48 h. */
  toolFailures(now: Date): Promise<ToolFailureRow[]>;
}

export function createTelemetryQueries(pool: Pool): TelemetryQueries {
  return {
    hourlyCost: (now) => runDiagnostic(pool, 'hourlyCost', now),
    traffic: (now) => runDiagnostic(pool, 'traffic', now),
    triggers: (now) => runDiagnostic(pool, 'triggers', now),
    hiddenRatio: (now) => runDiagnostic(pool, 'hiddenRatio', now),
    tokens: (now) => runDiagnostic(pool, 'tokens', now),
    features: (now) => runDiagnostic(pool, 'features', now),
    toolFailures: (now) => runDiagnostic(pool, 'toolFailures', now),
  };
}
