// The cost rollups' Temporal Schedule (`telemetry-rollup`), kept in step with config
// `telemetryRollup` by the worker at start: created or updated when on, removed when off.
import type { Client } from '@temporalio/client';
import type { Config } from '../config/schema';
import type { TelemetryRollupInput } from '../workflows/telemetry-rollup';
import { ensureSchedule, removeSchedule } from './schedules';

export const TELEMETRY_ROLLUP_SCHEDULE_ID = 'telemetry-rollup';

export async function ensureTelemetryRollupSchedule(
  client: Client,
  rollup: Config['telemetryRollup'],
  taskQueue: string,
  scheduleId = TELEMETRY_ROLLUP_SCHEDULE_ID,
): Promise<'created' | 'updated' | 'removed' | 'off'> {
  if (!rollup.enabled) return (await removeSchedule(client, scheduleId)) ? 'removed' : 'off';
  const args: [TelemetryRollupInput] = [{ lateness: rollup.lateness, retention: rollup.retention }];
  return ensureSchedule(client, {
    scheduleId,
    every: rollup.every,
    workflowType: 'telemetryRollup',
    args,
    taskQueue,
    purpose: "cost-spike rollups: the app's telemetry hours settled into the store (read-only on the app)",
  });
}
