// Temporal Schedules the product keeps in step with its config (the provider probe, maintenance
// passes, drills): created when missing, updated in place when present, so a config change takes
// effect on the next start without losing a pause an operator set.
import { ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { formatMs, toMs } from '../workflows/toolkit/duration';

export interface ScheduleDefinition {
  scheduleId: string;
  every: string | number;
  workflowType: string;
  args: unknown[];
  taskQueue: string;
  purpose: string;
}

export interface ScheduleState {
  id: string;
  exists: boolean;
  paused?: boolean;
  note?: string;
  every?: string;
  recentRuns?: number;
  nextRun?: string;
  /** The latest run the schedule started, with its result once it completed. */
  last?: { workflowId: string; startedAt: string; status: string; result?: unknown };
}

/** Creates the schedule, or updates its interval and target when it exists; the paused state stays. */
export async function ensureSchedule(client: Client, def: ScheduleDefinition): Promise<'created' | 'updated'> {
  const every = toMs(def.every);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: def.workflowType,
    taskQueue: def.taskQueue,
    args: def.args,
    workflowId: `${def.scheduleId}-run`,
    staticSummary: def.purpose,
  };
  try {
    await client.schedule.getHandle(def.scheduleId).update((prev) => ({
      ...prev,
      spec: { intervals: [{ every }] },
      action,
    }));
    return 'updated';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  await client.schedule.create({
    scheduleId: def.scheduleId,
    spec: { intervals: [{ every }] },
    // A slow run must not pile runs up: one still going skips the next.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
    action,
    memo: { purpose: def.purpose },
  });
  return 'created';
}

/** Deletes the schedule if it exists; true when there was one. */
export async function removeSchedule(client: Client, scheduleId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

export async function scheduleState(client: Client, scheduleId: string): Promise<ScheduleState> {
  try {
    const d = await client.schedule.getHandle(scheduleId).describe();
    const interval = d.spec.intervals?.[0]?.every;
    const recent = d.info.recentActions.at(-1);
    let last: ScheduleState['last'];
    if (recent) {
      const handle = client.workflow.getHandle(recent.action.workflow.workflowId);
      const run = { workflowId: handle.workflowId, startedAt: recent.takenAt.toISOString() };
      try {
        const { status } = await handle.describe();
        last = { ...run, status: status.name, result: status.name === 'COMPLETED' ? await handle.result() : undefined };
      } catch (err) {
        // Past the namespace's retention the run is gone; the store keeps the results.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        last = { ...run, status: 'past retention' };
      }
    }
    return {
      id: scheduleId,
      exists: true,
      paused: d.state.paused,
      note: d.state.note,
      every: typeof interval === 'number' ? formatMs(interval) : interval === undefined ? undefined : String(interval),
      recentRuns: d.info.recentActions.length,
      nextRun: d.info.nextActionTimes[0]?.toISOString(),
      last,
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return { id: scheduleId, exists: false };
    throw err;
  }
}

/** `scheduled every 1d, next <time>` (or PAUSED), for the CLI's status lines. */
export function describeSchedule(state: ScheduleState): string {
  return `${state.paused ? 'PAUSED' : 'scheduled'} every ${state.every}, next ${state.nextRun ?? '-'}`;
}
