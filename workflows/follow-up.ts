// A follow-up reminder that outlives the incident: started as an abandoned child, it sleeps
// until the follow-up is due, then reminds the owners and records it.
import { ParentClosePolicy, patched, proxyActivities, sleep, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DRILL_PREFIX } from './definitions';
import { formatMs } from './toolkit/duration';

const { remindFollowUp } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '10s', maximumInterval: '10m' },
});

export interface FollowUpInput {
  incidentWorkflowId: string;
  /** The incident's first run, which keys its follow-ups (absent in reminders started before it). */
  incidentRunId?: string;
  runbook: string;
  service: string;
  tasks: string[];
  afterMs: number;
}

export async function followUpReminder(input: FollowUpInput): Promise<string[]> {
  await sleep(input.afterMs, { summary: `follow-up due in ${formatMs(input.afterMs)}` });
  await remindFollowUp.executeWithOptions({ summary: 'remind follow-up owners' }, [input]);
  return input.tasks;
}

/**
 * Starts the reminder as an abandoned child: it outlives the incident's workflow. A drill's runbook
 * starts none (returns false): a drill leaves nothing running behind it.
 */
export async function scheduleFollowUp(
  incident: { runbook: string; service: string; drill?: unknown },
  tasks: string[],
  afterMs: number,
): Promise<boolean> {
  const info = workflowInfo();
  // Drills recorded before this started the reminder: they replay doing so.
  if ((incident.drill !== undefined || info.workflowId.startsWith(DRILL_PREFIX)) && patched('drill-no-follow-up'))
    return false;
  await startChild(followUpReminder, {
    workflowId: `followup/${info.workflowId}/${info.runId}`,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [
      {
        incidentWorkflowId: info.workflowId,
        incidentRunId: info.firstExecutionRunId,
        runbook: incident.runbook,
        service: incident.service,
        tasks,
        afterMs,
      },
    ],
    staticSummary: `follow-up for ${info.workflowId} in ${formatMs(afterMs)}`,
  });
  return true;
}
