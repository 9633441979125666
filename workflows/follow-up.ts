// A follow-up reminder that outlives the incident: started as an abandoned child, it sleeps
// until the follow-up is due, then reminds the owners and records it.
import { proxyActivities, sleep } from '@temporalio/workflow';
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
