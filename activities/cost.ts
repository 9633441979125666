// The cost-spike runbook's reads of the LLM app's telemetry database: the seed's six diagnostics
// (from the store's rollups once current, else the seed's SQL), the 7-day hourly baseline, who
// sent the extra traffic, which model served it, the flags the app reads, and the cost rate since
// a mitigation. The app's database is only read, and only the seed's columns are assumed: a read
// that needs another column the app lacks is unavailable, naming it. Every read answers Observed:
// an unreachable database or a missing table is a finding, never a hang or a crash.
import type { Pool } from 'pg';
import type { Deps } from './deps';
import { observe, type Observed } from './http';
import { appTable, missingColumn, telemetrySource } from './telemetry-app';
import { readDiagnostic, type DiagnosticName, type DiagnosticRows, type TelemetryTarget } from './telemetry';
import { HISTORY_LIVE, HISTORY_ROLLUP } from './telemetry-rollup-sql';
import { floorHour, HOUR_MS, readRollupState, rollupsCannotAnswer, type RollupState } from './telemetry-rollup-state';

export interface HourCost {
  hour: string;
  cost: number;
  requests: number;
}

export interface SourceShare {
  name: string;
  spike: number;
  baseline: number;
}

export interface TrafficSources {
  /** Requests per user agent in the spike hours and the same hours a day earlier. */
  userAgents: SourceShare[];
  /** Requests from agents that look automated (bots, crawlers, scripts, headless browsers). */
  botRequests: { spike: number; baseline: number };
  /** The busiest users' requests, and every request, in the spike hours and a day earlier. */
  topUsers: SourceShare[];
  requests: { spike: number; baseline: number };
}

export interface ModelUsage {
  model: string;
  spike: { requests: number; avgInput: number; avgOutput: number; cost: number };
  baseline: { requests: number; avgInput: number; avgOutput: number; cost: number };
}

export interface FlagRow {
  feature: string;
  enabled: boolean;
  /** null also when the app's feature_flags has no such column (the seed's has feature and enabled). */
  value: string | null;
  updated_at: string | null;
  updated_by: string | null;
}

/** User agents that announce automation, or the HTTP libraries scripts use. */
export const BOT_AGENT_PATTERN =
  '(bot|crawl|spider|scrap|headless|python-requests|python-httpx|aiohttp|curl/|wget|go-http-client|okhttp|java/|libwww|node-fetch|axios/)';

const HOUR = 3_600_000;

export interface Span {
  /** Epoch ms; the spike's hours are [fromMs, toMs), compared with the same span a day earlier. */
  fromMs: number;
  toMs: number;
}

/** Fails naming the first column the app's inference_events lacks: that evidence is unavailable, not zero. */
async function requireColumns(pool: Pool, columns: string[]): Promise<void> {
  const missing = await missingColumn(pool, 'inference_events', columns);
  if (missing) throw new Error(missing);
}

async function trafficSources(pool: Pool, span: Span): Promise<TrafficSources> {
  await requireColumns(pool, ['user_agent']);
  const args = [
    new Date(span.fromMs),
    new Date(span.toMs),
    new Date(span.fromMs - 24 * HOUR),
    new Date(span.toMs - 24 * HOUR),
  ];
  const period = `CASE WHEN created_at >= $1 THEN 'spike' ELSE 'baseline' END`;
  const inSpans = `(created_at >= $1 AND created_at < $2) OR (created_at >= $3 AND created_at < $4)`;
  const [agents, users, totals] = await Promise.all([
    pool.query<{ name: string; period: string; n: string }>(
      `SELECT coalesce(user_agent, '(none)') AS name, ${period} AS period, count(*) AS n
       FROM inference_events WHERE ${inSpans} GROUP BY 1, 2`,
      args,
    ),
    pool.query<{ name: string; spike: string; baseline: string }>(
      `SELECT coalesce(user_id, '(none)') AS name, count(*) FILTER (WHERE created_at >= $1) AS spike,
              count(*) FILTER (WHERE created_at < $1) AS baseline
       FROM inference_events WHERE ${inSpans} GROUP BY 1 ORDER BY 2 DESC LIMIT 10`,
      args,
    ),
    pool.query<{ spike: string; baseline: string; bot_spike: string; bot_baseline: string }>(
      `SELECT count(*) FILTER (WHERE created_at >= $1) AS spike, count(*) FILTER (WHERE created_at < $1) AS baseline,
              count(*) FILTER (WHERE created_at >= $1 AND user_agent ~* $5) AS bot_spike,
              count(*) FILTER (WHERE created_at < $1 AND user_agent ~* $5) AS bot_baseline
       FROM inference_events WHERE ${inSpans}`,
      [...args, BOT_AGENT_PATTERN],
    ),
  ]);
  const byAgent = new Map<string, SourceShare>();
  for (const r of agents.rows) {
    const e = byAgent.get(r.name) ?? { name: r.name, spike: 0, baseline: 0 };
    e[r.period === 'spike' ? 'spike' : 'baseline'] = Number(r.n);
    byAgent.set(r.name, e);
  }
  const t = totals.rows[0];
  return {
    userAgents: [...byAgent.values()].sort((a, b) => b.spike - a.spike).slice(0, 10),
    botRequests: { spike: Number(t.bot_spike), baseline: Number(t.bot_baseline) },
    topUsers: users.rows.map((r) => ({ name: r.name, spike: Number(r.spike), baseline: Number(r.baseline) })),
    requests: { spike: Number(t.spike), baseline: Number(t.baseline) },
  };
}

async function modelUsage(pool: Pool, span: Span): Promise<ModelUsage[]> {
  await requireColumns(pool, ['model']);
  const { rows } = await pool.query<{
    model: string;
    period: string;
    requests: string;
    avg_input: string;
    avg_output: string;
    cost: string;
  }>(
    `SELECT coalesce(model, '(none)') AS model, CASE WHEN created_at >= $1 THEN 'spike' ELSE 'baseline' END AS period,
            count(*) AS requests, avg(input_tokens) AS avg_input, avg(output_tokens) AS avg_output, sum(cost_usd) AS cost
     FROM inference_events
     WHERE (created_at >= $1 AND created_at < $2) OR (created_at >= $3 AND created_at < $4)
     GROUP BY 1, 2`,
    [new Date(span.fromMs), new Date(span.toMs), new Date(span.fromMs - 24 * HOUR), new Date(span.toMs - 24 * HOUR)],
  );
  const empty = { requests: 0, avgInput: 0, avgOutput: 0, cost: 0 };
  const out = new Map<string, ModelUsage>();
  for (const r of rows) {
    const e = out.get(r.model) ?? { model: r.model, spike: empty, baseline: empty };
    e[r.period === 'spike' ? 'spike' : 'baseline'] = {
      requests: Number(r.requests),
      avgInput: Number(r.avg_input),
      avgOutput: Number(r.avg_output),
      cost: Number(r.cost),
    };
    out.set(r.model, e);
  }
  return [...out.values()].sort((a, b) => b.spike.cost - a.spike.cost);
}

const toHourCost = (r: { hour: Date; cost: string | null; requests: string }): HourCost => ({
  hour: r.hour.toISOString(),
  cost: Number(r.cost ?? 0),
  requests: Number(r.requests),
});

/**
 * Whole past UTC hours' cost, `days` back from the hour holding `now`: from the store's rollups for
 * the settled hours when they are current, the rest (or all, else) from the app's table.
 */
async function hourlyCostHistory(target: TelemetryTarget, now: Date, days: number): Promise<Observed<HourCost[]>> {
  const toMs = floorHour(now.getTime());
  const fromMs = toMs - days * 24 * HOUR_MS;
  const live = async (startMs: number) =>
    startMs >= toMs
      ? []
      : (await target.telemetry.query(HISTORY_LIVE, [new Date(startMs), new Date(toMs)])).rows.map(toHourCost);
  const raw = (why: string) =>
    observe(() => live(fromMs), `hourly cost, ${days} days: the app's inference_events on ${target.label}${why}`);
  if (!target.store) return raw('');
  const store = target.store;
  let why: string | undefined;
  let state: RollupState | undefined;
  try {
    state = await readRollupState(store, telemetrySource(target.telemetry));
    why = rollupsCannotAnswer(state, fromMs, now.getTime());
  } catch (err) {
    why = `the store's rollups could not be read: ${(err as Error).message}`;
  }
  if (why || !state) return raw(` (${why ?? 'no rollups'})`);
  const settledMs = Math.min(toMs, state.settledUntilMs);
  const id = state.id;
  return observe(
    async () => [
      ...(await store.query(HISTORY_ROLLUP, [id, new Date(fromMs), new Date(settledMs)])).rows.map(toHourCost),
      ...(await live(Math.max(fromMs, settledMs))),
    ],
    `hourly cost, ${days} days: rollups in the store to ${new Date(settledMs).toISOString()}, ${target.label} after`,
  );
}

/** A drill's scratch telemetry database (drill_*), read instead of the app's. */
export interface DrillTarget {
  database?: string;
}

export function createCostActivities({ telemetry, storeDb, drillTelemetry }: Deps) {
  const db = (input: DrillTarget): Pool => (input.database ? drillTelemetry.get(input.database) : telemetry);
  // A drill's scratch database is the drill's own and small: the seed's SQL reads it directly.
  const target = (input: DrillTarget): TelemetryTarget =>
    input.database
      ? { telemetry: db(input), label: `drill database ${input.database}` }
      : { telemetry, store: storeDb, label: 'the app database' };
  const diagnostic =
    <K extends DiagnosticName>(name: K) =>
    async (input: { nowMs: number } & DrillTarget): Promise<Observed<DiagnosticRows[K][]>> => {
      let query = `seed 003: ${name}`;
      return observe(async () => {
        const answer = await readDiagnostic(target(input), name, new Date(input.nowMs));
        query = answer.query;
        return answer.rows;
      }).then((o) => ({ ...o, query }));
    };
  return {
    costByHour: diagnostic('hourlyCost'),
    costTraffic: diagnostic('traffic'),
    costTriggers: diagnostic('triggers'),
    costHiddenRatio: diagnostic('hiddenRatio'),
    costTokens: diagnostic('tokens'),
    costFeatures: diagnostic('features'),
    costToolFailures: diagnostic('toolFailures'),

    /** Hourly cost of the whole hours before now, `days` back: the baseline's raw material. */
    async costHistory(input: { nowMs: number; days: number } & DrillTarget): Promise<Observed<HourCost[]>> {
      return hourlyCostHistory(target(input), new Date(input.nowMs), input.days);
    },

    async costTrafficSources(input: Span & DrillTarget): Promise<Observed<TrafficSources>> {
      return observe(() => trafficSources(db(input), input), 'user agents and top users, spike vs a day earlier');
    },

    async costModelUsage(input: Span & DrillTarget): Promise<Observed<ModelUsage[]>> {
      return observe(() => modelUsage(db(input), input), 'tokens and cost per model, spike vs a day earlier');
    },

    async featureFlags(input: { features: string[] } & DrillTarget): Promise<Observed<FlagRow[]>> {
      return observe(async () => {
        const pool = db(input);
        // The seed's feature_flags has feature and enabled; the rest is read where the app has it.
        const table = await appTable(pool, 'feature_flags');
        if (!table) throw new Error("table feature_flags not in the app's database");
        const col = (name: string, type: string) => (table.columns.has(name) ? name : `NULL::${type} AS ${name}`);
        const { rows } = await pool.query<Omit<FlagRow, 'updated_at'> & { updated_at: Date | null }>(
          `SELECT feature, enabled, ${col('value', 'text')}, ${col('updated_at', 'timestamptz')}, ${col('updated_by', 'text')}
           FROM feature_flags WHERE cardinality($1::text[]) = 0 OR feature = ANY($1) ORDER BY feature`,
          [input.features],
        );
        return rows.map((r) => ({ ...r, updated_at: r.updated_at && new Date(r.updated_at).toISOString() }));
      }, 'feature_flags');
    },

    /** Cost since `sinceMs` (at most the last hour), and the hour's worth it comes to. */
    async costRate(
      input: { sinceMs: number } & DrillTarget,
    ): Promise<Observed<{ cost: number; seconds: number; perHour: number; requests: number }>> {
      return observe(async () => {
        const { rows } = await db(input).query<{ cost: string; seconds: number; requests: string }>(
          `SELECT coalesce(sum(cost_usd), 0) AS cost, count(*) AS requests,
                  extract(epoch FROM now() - greatest($1::timestamptz, now() - interval '1 hour'))::float8 AS seconds
           FROM inference_events WHERE created_at > greatest($1::timestamptz, now() - interval '1 hour')`,
          [new Date(input.sinceMs)],
        );
        const cost = Number(rows[0].cost);
        const seconds = Math.max(1, rows[0].seconds);
        // The events counted: no events is no data about the cost, not a cost of 0.
        return { cost, seconds, perHour: (cost * 3600) / seconds, requests: Number(rows[0].requests) };
      }, 'SUM(cost_usd) since the mitigation, at most the last hour');
    },
  };
}
