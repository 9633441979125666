// A follow-up reminder that outlives the incident: started as an abandoned child, it sleeps
// until the follow-up is due, then reminds the owners and records it.
import { ParentClosePolicy, proxyActivities, sleep, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { formatMs } from './toolkit/duration';

const { remindFollowUp } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '10s', maximumInterval: '10m' },
});

export interface FollowUpInput {
  incidentWorkflowId: string;
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

/** Starts the reminder as an abandoned child: it outlives the incident's workflow. */
export async function scheduleFollowUp(
  incident: { runbook: string; service: string },
  tasks: string[],
  afterMs: number,
): Promise<void> {
  const info = workflowInfo();
  await startChild(followUpReminder, {
    workflowId: `followup/${info.workflowId}/${info.runId}`,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [
      { incidentWorkflowId: info.workflowId, runbook: incident.runbook, service: incident.service, tasks, afterMs },
    ],
    staticSummary: `follow-up for ${info.workflowId} in ${formatMs(afterMs)}`,
  });
}
