// The cost rollups' upkeep, run by a Temporal Schedule (`telemetry-rollup`, every 5 minutes by
// default): passes that settle the app's telemetry hours into the store's rollups, reading only
// rows newer than the watermark (less the lateness), until they are caught up. A first run
// backfills the retention a day per pass; the diagnostics answer through the seed's SQL meanwhile.
import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RollupPassResult } from '../activities/telemetry-rollup';

const act = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3, initialInterval: '10s' },
});

export interface TelemetryRollupInput {
  /** How late a row may arrive and still count (e.g. "2h"). */
  lateness: string | number;
  /** How far back the rollups reach (e.g. "14d"). */
  retention: string | number;
}

export interface TelemetryRollupOutcome {
  source: string;
  caughtUp: boolean;
  passes: number;
  settledUntil: string;
  hours: number;
  lateHours: string[];
}

/** Passes per run: a backfill longer than this goes on at the schedule's next run. */
const MAX_PASSES = 60;

export async function telemetryRollup(input: TelemetryRollupInput): Promise<TelemetryRollupOutcome> {
  let last: RollupPassResult | undefined;
  let hours = 0;
  const lateHours: string[] = [];
  let passes = 0;
  while (passes < MAX_PASSES) {
    last = await act.telemetryRollupPass({ lateness: input.lateness, retention: input.retention });
    passes++;
    hours += last.hours;
    lateHours.push(...last.lateHours);
    setCurrentDetails(`settled until ${last.settledUntil}${last.caughtUp ? ' (caught up)' : ', catching up'}`);
    if (last.caughtUp || last.skipped) break;
  }
  return {
    source: last?.source ?? '',
    caughtUp: last?.caughtUp ?? false,
    passes,
    settledUntil: last?.settledUntil ?? '',
    hours,
    lateHours,
  };
}
