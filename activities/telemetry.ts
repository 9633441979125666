// The cost-spike runbook's six diagnostics over the LLM app's telemetry (seed 003): the seed's SQL
// as written, and the same answers from the hourly rollups the telemetry-rollup workflow keeps in
// this project's store (telemetry-rollup-sql.ts), used once they are current. Either way the app's
// database is only read. The Observed `query` of each answer says which path gave it.
//
// numeric results come back from pg as strings (exact); float8 ones as numbers.
import type { Pool } from 'pg';
import { COMBINE, ROLLUP_PART } from './telemetry-rollup-sql';
import { floorHour, HOUR_MS, iso, readRollupState, rollupsCannotAnswer } from './telemetry-rollup-state';
import { telemetrySource } from './telemetry-app';

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

/** Each diagnostic's window, as the seed's SQL writes it. */
export const WINDOWS: Record<DiagnosticName, string> = {
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

/** The seed's SQL as written, on `pool`, with NOW() pinned to `now`. */
export async function runSeedDiagnostic<K extends DiagnosticName>(
  pool: Pool,
  name: K,
  now: Date,
): Promise<DiagnosticRows[K][]> {
  return (await pool.query(SEED_SQL_AT[name], [now])).rows as DiagnosticRows[K][];
}

/** Where a diagnostic reads: the app's database, and the store holding its rollups (none: the seed's SQL). */
export interface TelemetryTarget {
  telemetry: Pool;
  store?: Pool;
  /** How the answer names the database: "the app database", "drill database drill_x". */
  label: string;
}

export interface DiagnosticAnswer<K extends DiagnosticName> {
  rows: DiagnosticRows[K][];
  /** Which path answered, and for the rollups which hours came from them. */
  query: string;
}

interface RollupPlan {
  sourceId: number;
  wholeMs: number;
  tailMs: number;
}

/** The rollups' share of a window at `now`, or why they cannot answer for it. */
async function planRollups(
  target: TelemetryTarget & { store: Pool },
  window: string,
  now: Date,
): Promise<RollupPlan | string> {
  const [state, bounds] = await Promise.all([
    readRollupState(target.store, telemetrySource(target.telemetry)),
    // The window's start as the seed computes it, in the app session's time zone.
    target.telemetry.query<{ lo: Date; offset_s: number }>(
      'SELECT $1::timestamptz - $2::interval AS lo, extract(timezone FROM $1::timestamptz)::int AS offset_s',
      [now, window],
    ),
  ]);
  const { lo, offset_s } = bounds.rows[0];
  if (offset_s % 3600 !== 0)
    return "the app session's time zone is not a whole number of hours from UTC: its hours are not the rollups' hours";
  const wholeMs = floorHour(lo.getTime()) + HOUR_MS;
  const why = rollupsCannotAnswer(state, wholeMs, now.getTime());
  if (why || !state) return why ?? 'no rollups';
  return { sourceId: state.id, wholeMs, tailMs: Math.max(wholeMs, state.settledUntilMs) };
}

/** One diagnostic from the rollups when they are current, else the seed's SQL on the app database. */
export async function readDiagnostic<K extends DiagnosticName>(
  target: TelemetryTarget,
  name: K,
  now: Date,
): Promise<DiagnosticAnswer<K>> {
  const seed = async (why?: string): Promise<DiagnosticAnswer<K>> => ({
    rows: await runSeedDiagnostic(target.telemetry, name, now),
    query: `seed 003: ${name}, the seed's SQL on ${target.label}${why ? ` (${why})` : ''}`,
  });
  if (!target.store) return seed();
  let plan: RollupPlan | string;
  try {
    plan = await planRollups({ ...target, store: target.store }, WINDOWS[name], now);
  } catch (err) {
    // A store without the rollups (not migrated, unreachable) must not cost the diagnosis.
    plan = `the store's rollups could not be read: ${(err as Error).message}`;
  }
  if (typeof plan === 'string') return seed(plan);
  const whole = new Date(plan.wholeMs);
  const tail = new Date(plan.tailMs);
  const part = await target.store.query<{ rows: string }>(ROLLUP_PART[name], [plan.sourceId, whole, tail]);
  const { rows } = await target.telemetry.query(COMBINE[name], [now, whole, tail, part.rows[0].rows]);
  return {
    rows: rows as DiagnosticRows[K][],
    query: `seed 003: ${name}, from the rollups in the store (hours ${iso(plan.wholeMs)} to ${iso(plan.tailMs)}) and ${target.label}'s rows outside them`,
  };
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

/** The diagnostics' rows on `telemetry`, from the rollups in `store` when given and current. */
export function createTelemetryQueries(telemetry: Pool, store?: Pool): TelemetryQueries {
  const target: TelemetryTarget = { telemetry, store, label: 'the app database' };
  const rows =
    <K extends DiagnosticName>(name: K) =>
    async (now: Date) =>
      (await readDiagnostic(target, name, now)).rows;
  return {
    hourlyCost: rows('hourlyCost'),
    traffic: rows('traffic'),
    triggers: rows('triggers'),
    hiddenRatio: rows('hiddenRatio'),
    tokens: rows('tokens'),
    features: rows('features'),
    toolFailures: rows('toolFailures'),
  };
}
