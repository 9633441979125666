// The store's record of how far the cost rollups of an app database reach (cost_rollup_sources),
// and the rule the diagnostics follow: answer from the rollups only when they hold every whole
// hour the window needs from its start and are settled up to the lateness behind `now`;
// otherwise the seed's SQL on the app's database answers while they catch up.
import type { Pool, PoolClient } from 'pg';

export const HOUR_MS = 3_600_000;
export const floorHour = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;
export const iso = (ms: number): string => new Date(ms).toISOString();

export interface RollupState {
  id: number;
  coverageFromMs: number;
  settledUntilMs: number;
  latenessMs: number;
  checkedAtMs: number;
  eventsLastId: string | null;
  toolsLastId: string | null;
}

export async function readRollupState(store: Pool | PoolClient, source: string): Promise<RollupState | undefined> {
  const { rows } = await store.query<{
    id: number;
    coverage_from: Date;
    settled_until: Date;
    lateness_ms: number;
    checked_at: Date;
    events_last_id: string | null;
    tools_last_id: string | null;
  }>(
    `SELECT id, coverage_from, settled_until, extract(epoch FROM lateness)::float8 * 1000 AS lateness_ms, checked_at,
            events_last_id::text, tools_last_id::text
     FROM cost_rollup_sources WHERE source = $1`,
    [source],
  );
  const r = rows[0];
  return (
    r && {
      id: r.id,
      coverageFromMs: r.coverage_from.getTime(),
      settledUntilMs: r.settled_until.getTime(),
      latenessMs: r.lateness_ms,
      checkedAtMs: r.checked_at.getTime(),
      eventsLastId: r.events_last_id,
      toolsLastId: r.tools_last_id,
    }
  );
}

/**
 * Why the rollups cannot answer for hours from `firstHourMs` on at `nowMs`, or undefined when they
 * can: they must reach back to that hour, and be settled to within the lateness (and the hour in
 * progress) of `nowMs`, so what is read live from the app stays a few hours of rows.
 */
export function rollupsCannotAnswer(
  state: RollupState | undefined,
  firstHourMs: number,
  nowMs: number,
): string | undefined {
  if (!state) return 'no rollup pass has run for this database yet';
  if (state.coverageFromMs > firstHourMs)
    return `the rollups start at ${iso(state.coverageFromMs)}, after ${iso(firstHourMs)}`;
  const due = floorHour(nowMs - state.latenessMs) - HOUR_MS;
  if (state.settledUntilMs < due) return `the rollups are settled until ${iso(state.settledUntilMs)} only: catching up`;
  return undefined;
}

/** Forgets an app database's rollups (its tables were reloaded): the next pass starts over. */
export async function resetRollups(store: Pool, source: string): Promise<boolean> {
  const { rowCount } = await store.query('DELETE FROM cost_rollup_sources WHERE source = $1', [source]);
  return (rowCount ?? 0) > 0;
}
