// One pass of the telemetry-rollup workflow: whole UTC hours of the app's events aggregated on the
// app's database (read only, one REPEATABLE READ snapshot) and written to the store's cost_rollup_*
// tables (store/005).
//
// An hour settles once it is `lateness` old: until then the diagnostics read it live, so a row
// that arrives up to that late counts. Each pass settles the hours between the last watermark and
// now - lateness (while catching up, at most `maxHours` of them), reading only those rows. Where
// the app's table has an indexed integer `id`, rows with an id above the last pass's that landed
// in settled hours (later than the lateness) have those hours aggregated again. Every write
// replaces whole hours, so a retried pass writes the same rows.
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { toMs } from '../workflows/toolkit/duration';
import type { Deps } from './deps';
import { appTable, telemetrySource, type AppTable } from './telemetry-app';
import { floorHour, HOUR_MS, iso, readRollupState, type RollupState } from './telemetry-rollup-state';

const duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d|w)$/, 'a duration like 2h')])
  .transform((v) => toMs(v));

export const rollupPassInput = z.object({
  /** How late a row may arrive and still count: younger hours are read live by the diagnostics. */
  lateness: duration,
  /** How far back the rollups reach: the diagnostics read 7 days, the baseline 9. */
  retention: duration.refine((ms) => ms >= HOUR_MS, 'at least 1h'),
  /** Hours settled per pass while catching up, so a pass stays well inside its timeout. */
  maxHours: z.number().int().positive().max(10_000).default(24),
});
export type RollupPassInput = z.input<typeof rollupPassInput>;

export interface RollupPassResult {
  source: string;
  coverageFrom: string;
  settledUntil: string;
  /** Settled as far as the lateness allows: the diagnostics answer from the rollups. */
  caughtUp: boolean;
  /** Hours aggregated by this pass (newly settled, and settled ones late rows landed in). */
  hours: number;
  /** Settled hours aggregated again because rows with a newer id landed in them. */
  lateHours: string[];
  /** Both tables have an indexed integer id, so rows later than the lateness are found too. */
  idWatermark: boolean;
  /** Nothing written, and why. */
  skipped?: string;
}

interface AppRead {
  checkedMs: number;
  restart: boolean;
  coverageFromMs: number;
  fromMs: number;
  toMs: number;
  targetMs: number;
  lateHoursMs: number[];
  eventsMaxId: string | null;
  toolsMaxId: string | null;
  idWatermark: boolean;
  /** The aggregates as JSON text, passed to the store as they came. */
  hours: string;
  groups: string;
  tools: string;
}

// $1 starts, $2 ends of the time ranges to aggregate (disjoint, whole UTC hours).
const IN_RANGES = (table: string, alias: string) =>
  `FROM unnest($1::timestamptz[], $2::timestamptz[]) AS r(lo, hi) JOIN ${table} ${alias} ON ${alias}.created_at >= r.lo AND ${alias}.created_at < r.hi`;
const AS_JSON = (select: string) => `SELECT coalesce(jsonb_agg(x), '[]')::text AS rows FROM (${select}) x`;

const AGGREGATE = {
  hours: AS_JSON(`SELECT date_trunc('hour', e.created_at, 'UTC') AS hour, count(*) AS requests,
    sum(e.cost_usd) AS cost_sum, count(e.cost_usd) AS cost_n, count(DISTINCT e.user_id) AS users,
    sum(e.input_tokens) AS input_sum, count(e.input_tokens) AS input_n,
    sum(e.output_tokens) AS output_sum, count(e.output_tokens) AS output_n,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY e.input_tokens) AS p95_input,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY e.output_tokens) AS p95_output
    ${IN_RANGES('inference_events', 'e')} GROUP BY 1`),
  groups: AS_JSON(`SELECT date_trunc('hour', e.created_at, 'UTC') AS hour, e.feature::text AS feature,
    e.trigger_type::text AS trigger_type, count(*) AS requests, sum(e.cost_usd) AS cost_sum
    ${IN_RANGES('inference_events', 'e')} GROUP BY 1, 2, 3`),
  tools: AS_JSON(`SELECT date_trunc('hour', c.created_at, 'UTC') AS hour, c.tool_name::text AS tool_name,
    count(*) AS calls, count(*) FILTER (WHERE c.success = false) AS failures,
    sum(c.retries) AS retries_sum, count(c.retries) AS retries_n
    ${IN_RANGES('tool_calls', 'c')} GROUP BY 1, 2`),
};

const STORE_COLUMNS = {
  hours: {
    table: 'cost_rollup_hours',
    columns:
      'hour timestamptz, requests bigint, cost_sum numeric, cost_n bigint, users bigint, input_sum numeric, input_n bigint, output_sum numeric, output_n bigint, p95_input float8, p95_output float8',
  },
  groups: {
    table: 'cost_rollup_groups',
    columns: 'hour timestamptz, feature text, trigger_type text, requests bigint, cost_sum numeric',
  },
  tools: {
    table: 'cost_rollup_tools',
    columns: 'hour timestamptz, tool_name text, calls bigint, failures bigint, retries_sum numeric, retries_n bigint',
  },
} as const;

async function maxId(app: PoolClient, table: string, t: AppTable): Promise<string | null> {
  if (!t.indexedId) return null;
  return (await app.query<{ max: string | null }>(`SELECT max(id)::text AS max FROM ${table}`)).rows[0].max;
}

/** An id watermark that went backwards: the table was emptied or reloaded. */
const wentBack = (last: string | null, max: string | null): boolean =>
  last !== null && (max === null || BigInt(max) < BigInt(last));

/** Hours below `fromMs` that rows inserted since the last pass landed in. */
async function lateHours(
  app: PoolClient,
  table: string,
  lastId: string | null,
  coverageFromMs: number,
  fromMs: number,
): Promise<number[]> {
  if (lastId === null) return [];
  const { rows } = await app.query<{ hour: Date }>(
    `SELECT DISTINCT date_trunc('hour', created_at, 'UTC') AS hour FROM ${table}
     WHERE id > $1 AND created_at >= $2 AND created_at < $3`,
    [lastId, new Date(coverageFromMs), new Date(fromMs)],
  );
  return rows.map((r) => r.hour.getTime());
}

async function readApp(
  app: PoolClient,
  state: RollupState | undefined,
  input: z.output<typeof rollupPassInput>,
): Promise<AppRead> {
  const checkedMs = (await app.query<{ now: Date }>('SELECT now() AS now')).rows[0].now.getTime();
  const [events, tools] = await Promise.all([appTable(app, 'inference_events'), appTable(app, 'tool_calls')]);
  if (!events) throw new Error("table inference_events not in the app's database");
  if (!tools) throw new Error("table tool_calls not in the app's database");
  const eventsMaxId = await maxId(app, 'inference_events', events);
  const toolsMaxId = await maxId(app, 'tool_calls', tools);
  const wantFromMs = floorHour(checkedMs - input.retention);
  const targetMs = floorHour(checkedMs - input.lateness);
  // Start over with no rollups yet, a retention reaching further back, or a table reloaded.
  const restart =
    !state ||
    wantFromMs < state.coverageFromMs ||
    wentBack(state.eventsLastId, eventsMaxId) ||
    wentBack(state.toolsLastId, toolsMaxId);
  const coverageFromMs = restart ? wantFromMs : Math.max(state.coverageFromMs, wantFromMs);
  const fromMs = restart ? coverageFromMs : Math.max(state.settledUntilMs, coverageFromMs);
  const toMs = Math.max(fromMs, Math.min(targetMs, fromMs + input.maxHours * HOUR_MS));
  const late = restart
    ? []
    : [
        ...new Set([
          ...(events.indexedId
            ? await lateHours(app, 'inference_events', state.eventsLastId, coverageFromMs, fromMs)
            : []),
          ...(tools.indexedId ? await lateHours(app, 'tool_calls', state.toolsLastId, coverageFromMs, fromMs) : []),
        ]),
      ].sort((a, b) => a - b);
  const ranges: [number, number][] = [...(toMs > fromMs ? [[fromMs, toMs] as [number, number]] : [])];
  for (const h of late) ranges.push([h, h + HOUR_MS]);
  const params = [ranges.map(([lo]) => new Date(lo)), ranges.map(([, hi]) => new Date(hi))];
  const aggregate = async (sql: string) =>
    ranges.length ? (await app.query<{ rows: string }>(sql, params)).rows[0].rows : '[]';
  return {
    checkedMs,
    restart,
    coverageFromMs,
    fromMs,
    toMs,
    targetMs,
    lateHoursMs: late,
    eventsMaxId,
    toolsMaxId,
    idWatermark: events.indexedId && tools.indexedId,
    hours: await aggregate(AGGREGATE.hours),
    groups: await aggregate(AGGREGATE.groups),
    tools: await aggregate(AGGREGATE.tools),
  };
}

const sameState = (a: RollupState | undefined, b: RollupState | undefined): boolean =>
  a === b ||
  (!!a &&
    !!b &&
    a.id === b.id &&
    a.coverageFromMs === b.coverageFromMs &&
    a.settledUntilMs === b.settledUntilMs &&
    a.eventsLastId === b.eventsLastId &&
    a.toolsLastId === b.toolsLastId);

async function writeStore(
  store: Pool,
  source: string,
  prior: RollupState | undefined,
  read: AppRead,
  latenessMs: number,
): Promise<string | undefined> {
  const client = await store.connect();
  try {
    await client.query('BEGIN');
    // One pass per app database at a time; one that finds the state moved on leaves it be.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`cost-rollup:${source}`]);
    if (!sameState(prior, await readRollupState(client, source))) {
      await client.query('ROLLBACK');
      return 'another pass wrote the rollups meanwhile';
    }
    let id = prior?.id;
    if (read.restart || id === undefined) {
      await client.query('DELETE FROM cost_rollup_sources WHERE source = $1', [source]);
      id = (
        await client.query<{ id: number }>(
          `INSERT INTO cost_rollup_sources (source, coverage_from, settled_until, lateness, checked_at)
           VALUES ($1, $2, $2, $3 * interval '1 millisecond', $4) RETURNING id`,
          [source, new Date(read.coverageFromMs), latenessMs, new Date(read.checkedMs)],
        )
      ).rows[0].id;
    }
    const ranges: [number, number][] = [
      ...(read.toMs > read.fromMs ? [[read.fromMs, read.toMs] as [number, number]] : []),
      ...read.lateHoursMs.map((h): [number, number] => [h, h + HOUR_MS]),
    ];
    for (const key of ['hours', 'groups', 'tools'] as const) {
      const { table, columns } = STORE_COLUMNS[key];
      const names = columns
        .split(', ')
        .map((c) => c.split(' ')[0])
        .join(', ');
      // Hours older than the coverage go; the hours aggregated now are replaced whole.
      await client.query(
        `DELETE FROM ${table} t WHERE t.source_id = $1 AND (t.hour < $2 OR EXISTS (
           SELECT 1 FROM unnest($3::timestamptz[], $4::timestamptz[]) AS r(lo, hi) WHERE t.hour >= r.lo AND t.hour < r.hi))`,
        [id, new Date(read.coverageFromMs), ranges.map(([lo]) => new Date(lo)), ranges.map(([, hi]) => new Date(hi))],
      );
      await client.query(
        `INSERT INTO ${table} (source_id, ${names}) SELECT $1, ${names} FROM jsonb_to_recordset($2::jsonb) AS r(${columns})`,
        [id, read[key]],
      );
    }
    await client.query(
      `UPDATE cost_rollup_sources SET coverage_from = $2, settled_until = $3, lateness = $4 * interval '1 millisecond',
         checked_at = $5, events_last_id = $6, tools_last_id = $7, passes = passes + 1 WHERE id = $1`,
      [
        id,
        new Date(read.coverageFromMs),
        new Date(read.toMs),
        latenessMs,
        new Date(read.checkedMs),
        read.eventsMaxId,
        read.toolsMaxId,
      ],
    );
    await client.query('COMMIT');
    return undefined;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Settles what is due on the app database `telemetry` into the rollups in `store`. */
export async function rollupPass(telemetry: Pool, store: Pool, raw: RollupPassInput): Promise<RollupPassResult> {
  const input = rollupPassInput.parse(raw);
  const source = telemetrySource(telemetry);
  const prior = await readRollupState(store, source);
  const app = await telemetry.connect();
  let read: AppRead;
  try {
    // One snapshot: the watermark, the max ids and the aggregates agree with each other.
    await app.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    read = await readApp(app, prior, input);
    await app.query('COMMIT');
  } catch (err) {
    await app.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    app.release();
  }
  const skipped = await writeStore(store, source, prior, read, input.lateness);
  return {
    source,
    coverageFrom: iso(read.coverageFromMs),
    settledUntil: iso(read.toMs),
    caughtUp: read.toMs >= read.targetMs,
    hours: (read.toMs - read.fromMs) / HOUR_MS + read.lateHoursMs.length,
    lateHours: read.lateHoursMs.map(iso),
    idWatermark: read.idWatermark,
    ...(skipped ? { skipped } : {}),
  };
}

export function createTelemetryRollupActivities({ telemetry, storeDb }: Deps) {
  return {
    /** One pass of the cost rollups of the app's database into the store (see telemetry-rollup workflow). */
    async telemetryRollupPass(input: RollupPassInput): Promise<RollupPassResult> {
      return rollupPass(telemetry, storeDb, input);
    },
  };
}
