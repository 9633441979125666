// Drills from the CLI and on schedules: `runbook drill <runbook> --scenario <name>` runs one and
// prints its report; config `drills.schedules` keeps a Temporal Schedule per drill, removed again
// when it leaves the config.
import type { Client } from '@temporalio/client';
import type { Config } from '../config/schema';
import type { DrillInput, DrillReport } from '../workflows/drill';
import { describeSchedule, ensureSchedule, removeSchedule, scheduleState, type ScheduleState } from './schedules';

const DRILL_SCHEDULE_PREFIX = 'drill-';
export const drillScheduleId = (d: DrillInput): string => `${DRILL_SCHEDULE_PREFIX}${d.runbook}-${d.scenario}`;

export function runDrill(client: Client, taskQueue: string, input: DrillInput): Promise<DrillReport> {
  return client.workflow.execute('runbookDrill', {
    taskQueue,
    workflowId: `${drillScheduleId(input)}-now-${Date.now()}`,
    args: [input],
    staticSummary: `drill ${input.runbook} · ${input.scenario} (run by hand)`,
  });
}

export interface SyncedDrill {
  scheduleId: string;
  outcome: 'created' | 'updated' | 'removed';
}

export async function syncDrillSchedules(client: Client, config: Config, taskQueue: string): Promise<SyncedDrill[]> {
  const out: SyncedDrill[] = [];
  const wanted = new Set<string>();
  for (const d of config.drills.schedules) {
    const scheduleId = drillScheduleId(d);
    wanted.add(scheduleId);
    const outcome = await ensureSchedule(client, {
      scheduleId,
      every: d.every,
      workflowType: 'runbookDrill',
      args: [{ runbook: d.runbook, scenario: d.scenario, notify: config.drills.notifyOnFailure }],
      taskQueue,
      purpose: `drill: ${d.runbook} against scenario ${d.scenario}, nothing changed`,
    });
    out.push({ scheduleId, outcome });
  }
  for await (const s of client.schedule.list()) {
    if (s.scheduleId.startsWith(DRILL_SCHEDULE_PREFIX) && !wanted.has(s.scheduleId)) {
      await removeSchedule(client, s.scheduleId);
      out.push({ scheduleId: s.scheduleId, outcome: 'removed' });
    }
  }
  return out;
}

export interface DrillStatus {
  scheduleId: string;
  runbook: string;
  scenario: string;
  every: string | number;
  schedule: ScheduleState;
  last?: { workflowId: string; startedAt: string; status: string; passed?: boolean; reached?: DrillReport['reached'] };
}

/** The drills config schedules, each with its schedule's state and the latest drill's verdict. */
export async function drillStatus(client: Client, config: Config): Promise<DrillStatus[]> {
  return Promise.all(
    config.drills.schedules.map(async (d) => {
      const scheduleId = drillScheduleId(d);
      const schedule = await scheduleState(client, scheduleId);
      const base = { scheduleId, runbook: d.runbook, scenario: d.scenario, every: d.every, schedule };
      if (!schedule.last) return base;
      const { result, ...run } = schedule.last;
      const report = result as DrillReport | undefined;
      return { ...base, last: { ...run, passed: report?.passed, reached: report?.reached } };
    }),
  );
}

export function renderDrillStatus(d: DrillStatus): string {
  const schedule = d.schedule.exists
    ? describeSchedule(d.schedule)
    : 'no schedule yet (`runbook drill sync`, or start the worker)';
  const last = d.last
    ? `\n  last drill ${d.last.startedAt}: ${d.last.passed === undefined ? d.last.status : d.last.passed ? 'PASSED' : `FAILED (reached ${d.last.reached?.diagnosis ?? 'no diagnosis'}, ${d.last.reached?.mitigation ?? 'no mitigation'})`}`
    : '';
  return `${d.scheduleId}: ${schedule}${last}`;
}

export function renderDrillReport(r: DrillReport): string {
  const mark = (ok: boolean) => (ok ? 'reached' : 'NOT reached');
  return [
    `drill ${r.runbook} · ${r.scenario}: ${r.passed ? 'PASSED' : 'FAILED'} in ${(r.totalMs / 1000).toFixed(1)} s (${r.incident})`,
    `  synthetic incident: ${r.description}; ${r.setup}`,
    `  diagnosis ${r.reached.diagnosis ?? 'none'}: expected ${r.expected.diagnosis}, ${mark(r.diagnosisReached)}`,
    `  mitigation ${r.reached.mitigation ?? 'none'}: expected ${r.expected.mitigation.join(' or ')}, ${mark(r.mitigationReached)}`,
    // Steps after the one it reached never ran: the JSON report lists them as pending.
    ...r.steps
      .filter((s) => s.status !== 'pending')
      .map(
        (s) =>
          `  ${(s.id === r.reached.mitigation ? 'REACHED' : s.status).padEnd(8)} ${(s.durationMs === null ? '-' : `${(s.durationMs / 1000).toFixed(1)} s`).padStart(8)}  ${s.id}`,
      ),
  ].join('\n');
}
