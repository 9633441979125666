// The six diagnostics from the store's rollups, with the same numbers as the seed's SQL.
//
// A window is the seed's `created_at > now - W`, open-ended. Its whole hours in [whole, tail) come
// from the store (ROLLUP_PART, as JSON); the rest, the partial hour at the start (lo, whole) and
// everything from `tail` on (the unsettled lateness hours, the hour in progress, any future
// rows), is read live from the app's table. The two meet in one statement on the app's database
// (COMBINE), so day buckets, NULL handling, ordering and collation are the app session's, as for
// the seed's SQL. Only SELECT on the app's tables is needed: no temporary table, no DDL.
//
// Each AVG is a sum over the count of values summed (AVG(numeric) and AVG(integer) are
// numeric_div(sum, count), so the digits match); COUNT(DISTINCT user_id) and PERCENTILE_CONT are
// per hour, computed when the hour was rolled up. Rollup hours are UTC hours: equal to the seed's
// DATE_TRUNC buckets when the session's offset from UTC is a whole number of hours (checked).
//
// Parameters: ROLLUP_PART $1 source id, $2 whole, $3 tail; COMBINE $1 now, $2 whole, $3 tail, $4 JSON.
import type { DiagnosticName } from './telemetry';

const COLUMNS = {
  inference_events: 'created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd',
  tool_calls: 'created_at, tool_name, success, retries',
};

// The window's rows outside the rollups, as two index ranges (one OR would read the whole window).
const live = (window: string, table: keyof typeof COLUMNS = 'inference_events') => `FROM (
    SELECT ${COLUMNS[table]} FROM ${table}
    WHERE created_at > $1::timestamptz - INTERVAL '${window}' AND created_at < $2::timestamptz
    UNION ALL
    SELECT ${COLUMNS[table]} FROM ${table}
    WHERE created_at > $1::timestamptz - INTERVAL '${window}' AND created_at >= $3::timestamptz
  ) live`;

const json = (select: string) => `SELECT coalesce(jsonb_agg(x), '[]')::text AS rows FROM (${select}) x`;
const HOURS = `cost_rollup_hours WHERE source_id = $1 AND hour >= $2 AND hour < $3`;
const GROUPS = `cost_rollup_groups WHERE source_id = $1 AND hour >= $2 AND hour < $3`;
const TOOLS = `cost_rollup_tools WHERE source_id = $1 AND hour >= $2 AND hour < $3`;

export const ROLLUP_PART: Record<DiagnosticName, string> = {
  hourlyCost: json(`SELECT hour, requests, cost_sum, cost_n FROM ${HOURS}`),
  traffic: json(`SELECT hour, requests, users, cost_sum FROM ${HOURS}`),
  triggers: json(
    `SELECT hour, trigger_type, sum(requests)::bigint AS count, sum(cost_sum) AS cost FROM ${GROUPS} GROUP BY 1, 2`,
  ),
  hiddenRatio: json(
    `SELECT hour, sum(requests)::bigint AS total,
            coalesce(sum(requests) FILTER (WHERE trigger_type IN ('undo', 'retry', 'auto_save')), 0)::bigint AS hidden
     FROM ${GROUPS} GROUP BY 1`,
  ),
  tokens: json(`SELECT hour, input_sum, input_n, output_sum, output_n, p95_input, p95_output FROM ${HOURS}`),
  features: json(
    `SELECT hour, feature, sum(requests)::bigint AS requests, sum(cost_sum) AS cost FROM ${GROUPS} GROUP BY 1, 2`,
  ),
  toolFailures: json(
    `SELECT tool_name, sum(calls)::bigint AS calls, sum(failures)::bigint AS failures, sum(retries_sum) AS retries,
            sum(retries_n)::bigint AS retries_n
     FROM ${TOOLS} GROUP BY 1`,
  ),
};

export const COMBINE: Record<DiagnosticName, string> = {
  hourlyCost: `SELECT hour, requests, total_cost, avg_cost_per_request FROM (
  SELECT r.hour, r.requests, r.cost_sum AS total_cost, r.cost_sum / nullif(r.cost_n, 0) AS avg_cost_per_request
  FROM jsonb_to_recordset($4::jsonb) AS r(hour timestamptz, requests bigint, cost_sum numeric, cost_n bigint)
  UNION ALL
  SELECT DATE_TRUNC('hour', created_at), COUNT(*), SUM(cost_usd), AVG(cost_usd)
  ${live('48 hours')} GROUP BY 1
) x ORDER BY 1`,

  traffic: `SELECT hour, requests, unique_users, total_cost, cost_per_request FROM (
  SELECT r.hour, r.requests, r.users AS unique_users, r.cost_sum AS total_cost, r.cost_sum / r.requests AS cost_per_request
  FROM jsonb_to_recordset($4::jsonb) AS r(hour timestamptz, requests bigint, users bigint, cost_sum numeric)
  UNION ALL
  SELECT DATE_TRUNC('hour', created_at), COUNT(*), COUNT(DISTINCT user_id), SUM(cost_usd), SUM(cost_usd) / COUNT(*)
  ${live('48 hours')} GROUP BY 1
) x ORDER BY 1`,

  triggers: `SELECT hour, trigger_type, count, cost FROM (
  SELECT r.hour, r.trigger_type, r.count, r.cost
  FROM jsonb_to_recordset($4::jsonb) AS r(hour timestamptz, trigger_type text, count bigint, cost numeric)
  UNION ALL
  SELECT DATE_TRUNC('hour', created_at), trigger_type, COUNT(*), SUM(cost_usd)
  ${live('48 hours')} GROUP BY 1, 2
) x ORDER BY 1, 2`,

  hiddenRatio: `SELECT day, total, hidden, hidden::float / total AS hidden_ratio FROM (
  SELECT day, sum(total)::bigint AS total, sum(hidden)::bigint AS hidden FROM (
    SELECT DATE_TRUNC('day', r.hour) AS day, r.total, r.hidden
    FROM jsonb_to_recordset($4::jsonb) AS r(hour timestamptz, total bigint, hidden bigint)
    UNION ALL
    SELECT DATE_TRUNC('day', created_at), COUNT(*), SUM(CASE WHEN trigger_type IN ('undo', 'retry', 'auto_save') THEN 1 ELSE 0 END)
    ${live('7 days')} GROUP BY 1
  ) parts GROUP BY 1
) d ORDER BY 1`,

  tokens: `SELECT hour, avg_input, avg_output, p95_input, p95_output FROM (
  SELECT r.hour, r.input_sum / nullif(r.input_n, 0) AS avg_input, r.output_sum / nullif(r.output_n, 0) AS avg_output,
         r.p95_input, r.p95_output
  FROM jsonb_to_recordset($4::jsonb)
    AS r(hour timestamptz, input_sum numeric, input_n bigint, output_sum numeric, output_n bigint, p95_input float8, p95_output float8)
  UNION ALL
  SELECT DATE_TRUNC('hour', created_at), AVG(input_tokens), AVG(output_tokens),
         PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY input_tokens), PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY output_tokens)
  ${live('48 hours')} GROUP BY 1
) x ORDER BY 1`,

  // The seed orders only by day and cost; the feature breaks ties so both paths list alike.
  features: `SELECT day, feature, requests, total_cost, total_cost / requests AS cost_per_request FROM (
  SELECT day, feature, sum(requests)::bigint AS requests, sum(cost) AS total_cost FROM (
    SELECT DATE_TRUNC('day', r.hour) AS day, r.feature, r.requests, r.cost
    FROM jsonb_to_recordset($4::jsonb) AS r(hour timestamptz, feature text, requests bigint, cost numeric)
    UNION ALL
    SELECT DATE_TRUNC('day', created_at), feature, COUNT(*), SUM(cost_usd)
    ${live('7 days')} GROUP BY 1, 2
  ) parts GROUP BY 1, 2
) d ORDER BY 1, total_cost DESC, feature`,

  toolFailures: `SELECT tool_name, total_calls, failures, failures::float / total_calls AS failure_rate,
       retries / nullif(retries_n, 0) AS avg_retries FROM (
  SELECT tool_name, sum(calls)::bigint AS total_calls, sum(failures)::bigint AS failures, sum(retries) AS retries,
         sum(retries_n) AS retries_n FROM (
    SELECT r.tool_name, r.calls, r.failures, r.retries, r.retries_n
    FROM jsonb_to_recordset($4::jsonb) AS r(tool_name text, calls bigint, failures bigint, retries numeric, retries_n bigint)
    UNION ALL
    SELECT tool_name, COUNT(*), SUM(CASE WHEN success = false THEN 1 ELSE 0 END), SUM(retries), COUNT(retries)
    ${live('48 hours', 'tool_calls')} GROUP BY 1
  ) parts GROUP BY 1
) t ORDER BY failures DESC, tool_name`,
};

/** Whole UTC hours' cost for the baseline: the store's part, and the app's for the hours after it. */
export const HISTORY_ROLLUP = `SELECT hour, cost_sum AS cost, requests FROM ${HOURS} ORDER BY hour`;
export const HISTORY_LIVE = `SELECT date_trunc('hour', created_at, 'UTC') AS hour, sum(cost_usd) AS cost, count(*) AS requests
FROM inference_events WHERE created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 1`;
