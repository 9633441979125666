// Scheduled maintenance: one Temporal Schedule per maintenance runbook, kept in step with config
// `maintenance` by the worker at start and by `runbook maintenance sync`. A schedule switched off
// in config is removed, so the Schedules page shows what config says.
import type { Client } from '@temporalio/client';
import type { Config } from '../config/schema';
import { MAINTENANCE_RUNBOOKS, type MaintenanceRunbook } from '../workflows/definitions';
import type { MaintenanceOutcome } from '../workflows/maintenance';
import { describeSchedule, ensureSchedule, removeSchedule, scheduleState, type ScheduleState } from './schedules';

export const maintenanceScheduleId = (runbook: MaintenanceRunbook): string => `maintenance-${runbook}`;

const DEFAULT_EVERY: Record<MaintenanceRunbook, string> = {
  'database-maintenance': '1d',
  'log-management': '1h',
  'backup-recovery': '1d',
  'certificate-management': '1d',
};

export interface MaintenancePlan {
  runbook: MaintenanceRunbook;
  scheduleId: string;
  enabled: boolean;
  every: string | number;
  /** Why it is on or off when config does not say. */
  reason: string;
}

/** Database and log checks run by default; backups and certificates once there is something to check. */
function enabledByDefault(runbook: MaintenanceRunbook, config: Config): [boolean, string] {
  const ds = config.dataSources;
  if (runbook === 'backup-recovery')
    return ds.backups.directory
      ? [true, `backups in ${ds.backups.directory}`]
      : [false, 'no backup directory configured (dataSources.backups.directory)'];
  if (runbook === 'certificate-management')
    return ds.tlsEndpoints.length
      ? [true, `${ds.tlsEndpoints.length} TLS endpoints`]
      : [false, 'no TLS endpoints configured (dataSources.tlsEndpoints)'];
  return [true, 'on by default'];
}

export function maintenancePlan(config: Config): MaintenancePlan[] {
  return MAINTENANCE_RUNBOOKS.map((runbook) => {
    const set = config.maintenance.schedules[runbook] ?? {};
    const [byDefault, why] = enabledByDefault(runbook, config);
    const enabled = set.enabled ?? byDefault;
    return {
      runbook,
      scheduleId: maintenanceScheduleId(runbook),
      enabled,
      every: set.every ?? DEFAULT_EVERY[runbook],
      reason: set.enabled === undefined ? why : `maintenance.schedules.${runbook}.enabled is ${set.enabled}`,
    };
  });
}

export interface SyncedSchedule extends MaintenancePlan {
  outcome: 'created' | 'updated' | 'removed' | 'off';
}

export async function syncMaintenanceSchedules(
  client: Client,
  config: Config,
  taskQueue: string,
): Promise<SyncedSchedule[]> {
  const { service, environment } = config.maintenance;
  const out: SyncedSchedule[] = [];
  for (const plan of maintenancePlan(config)) {
    const outcome = plan.enabled
      ? await ensureSchedule(client, {
          scheduleId: plan.scheduleId,
          every: plan.every,
          workflowType: 'maintenanceRun',
          args: [{ runbook: plan.runbook, service, environment }],
          taskQueue,
          purpose: `scheduled maintenance: the automated checks of ${plan.runbook}`,
        })
      : (await removeSchedule(client, plan.scheduleId))
        ? 'removed'
        : 'off';
    out.push({ ...plan, outcome });
  }
  return out;
}

export interface MaintenanceStatus extends MaintenancePlan {
  schedule: ScheduleState;
  last?: { workflowId: string; startedAt: string; status: string; ok?: boolean; summary?: string };
}

/** Each maintenance runbook's schedule, and what its latest pass found. */
export async function maintenanceStatus(client: Client, config: Config): Promise<MaintenanceStatus[]> {
  return Promise.all(
    maintenancePlan(config).map(async (plan) => {
      const schedule = await scheduleState(client, plan.scheduleId);
      if (!schedule.last) return { ...plan, schedule };
      const { result, ...run } = schedule.last;
      const outcome = result as MaintenanceOutcome | undefined;
      return { ...plan, schedule, last: { ...run, ok: outcome?.ok, summary: outcome?.summary } };
    }),
  );
}

export function renderMaintenanceStatus(m: MaintenanceStatus): string {
  const schedule = m.schedule.exists
    ? describeSchedule(m.schedule)
    : m.enabled
      ? 'no schedule yet (`runbook maintenance sync`, or start the worker)'
      : `off: ${m.reason}`;
  const last = m.last
    ? `\n  last pass ${m.last.startedAt}: ${m.last.ok === undefined ? m.last.status : m.last.ok ? 'OK' : 'FAILED'}${m.last.summary ? `: ${m.last.summary}` : ''}`
    : '';
  return `${m.scheduleId}: ${schedule}${last}`;
}

/** One pass now, outside the schedule (`runbook maintenance run`); waits for its outcome. */
export function runMaintenanceNow(
  client: Client,
  config: Config,
  runbook: MaintenanceRunbook,
  taskQueue: string,
): Promise<MaintenanceOutcome> {
  const { service, environment } = config.maintenance;
  return client.workflow.execute('maintenanceRun', {
    taskQueue,
    workflowId: `${maintenanceScheduleId(runbook)}-now-${Date.now()}`,
    args: [{ runbook, service, environment }],
    staticSummary: `maintenance pass: ${runbook} (run by hand)`,
  });
}
