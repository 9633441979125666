// The synthetic provider probe's Temporal Schedule: created or updated from config when the worker
// starts, paused and resumed from the CLI (or the Web UI's Schedules page).
import type { Client } from '@temporalio/client';
import type { Config } from '../config/schema';
import { ensureSchedule, scheduleState, type ScheduleState } from './schedules';

export const PROBE_SCHEDULE_ID = 'llm-provider-probe';

export function ensureProbeSchedule(
  client: Client,
  probe: Config['probe'],
  taskQueue: string,
  scheduleId = PROBE_SCHEDULE_ID,
): Promise<'created' | 'updated'> {
  return ensureSchedule(client, {
    scheduleId,
    every: probe.every,
    workflowType: 'providerProbe',
    args: [{ service: probe.service, environment: probe.environment }],
    taskQueue,
    purpose: 'synthetic connectivity test of the LLM provider (llm-provider-incident)',
  });
}

export function probeScheduleState(client: Client, scheduleId = PROBE_SCHEDULE_ID): Promise<ScheduleState> {
  return scheduleState(client, scheduleId);
}

export async function pauseProbe(client: Client, note: string, scheduleId = PROBE_SCHEDULE_ID): Promise<void> {
  await client.schedule.getHandle(scheduleId).pause(note);
}

export async function resumeProbe(client: Client, note: string, scheduleId = PROBE_SCHEDULE_ID): Promise<void> {
  await client.schedule.getHandle(scheduleId).unpause(note);
}
