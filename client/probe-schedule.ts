// The synthetic provider probe's Temporal Schedule: created or updated from config when the worker
// starts, paused and resumed from the CLI (or the Web UI's Schedules page).
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config/schema';
import { formatMs, toMs } from '../workflows/toolkit/duration';

export const PROBE_SCHEDULE_ID = 'llm-provider-probe';

export interface ProbeScheduleState {
  id: string;
  exists: boolean;
  paused?: boolean;
  note?: string;
  every?: string;
  recentRuns?: number;
}

/** Creates the schedule, or updates its interval and target when it exists; the paused state stays. */
export async function ensureProbeSchedule(
  client: Client,
  probe: Config['probe'],
  taskQueue: string,
  scheduleId = PROBE_SCHEDULE_ID,
): Promise<'created' | 'updated'> {
  const every = toMs(probe.every);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'providerProbe',
    taskQueue,
    args: [{ service: probe.service, environment: probe.environment }],
  };
  try {
    await client.schedule.getHandle(scheduleId).update((prev) => ({
      ...prev,
      spec: { intervals: [{ every }] },
      action: { ...action, workflowId: `${scheduleId}-run` },
    }));
    return 'updated';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  await client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every }] },
    // A slow provider must not pile probes up: a run still going skips the next.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
    action: { ...action, workflowId: `${scheduleId}-run` },
    memo: { purpose: 'synthetic connectivity test of the LLM provider (llm-provider-incident)' },
  });
  return 'created';
}

export async function probeScheduleState(client: Client, scheduleId = PROBE_SCHEDULE_ID): Promise<ProbeScheduleState> {
  try {
    const d = await client.schedule.getHandle(scheduleId).describe();
    const interval = d.spec.intervals?.[0]?.every;
    return {
      id: scheduleId,
      exists: true,
      paused: d.state.paused,
      note: d.state.note,
      every: typeof interval === 'number' ? formatMs(interval) : interval === undefined ? undefined : String(interval),
      recentRuns: d.info.recentActions.length,
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return { id: scheduleId, exists: false };
    throw err;
  }
}

export async function pauseProbe(client: Client, note: string, scheduleId = PROBE_SCHEDULE_ID): Promise<void> {
  await client.schedule.getHandle(scheduleId).pause(note);
}

export async function resumeProbe(client: Client, note: string, scheduleId = PROBE_SCHEDULE_ID): Promise<void> {
  await client.schedule.getHandle(scheduleId).unpause(note);
}
