// The incident's record after the fact: root cause, impact, resolution, follow-ups (and a
// postmortem where the document has one). It must land, so it is retried until the store is back.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { PostIncidentReport } from '../../activities/store';

const record = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', maximumInterval: '1m' },
});

export async function recordPostIncident(
  runbook: string,
  report: PostIncidentReport,
  followUpAfterMs: number,
): Promise<void> {
  // Keyed by the incident's first run, as its record is: the same for every run it continued as.
  const { workflowId, firstExecutionRunId: runId } = workflowInfo();
  await record.recordPostIncident.executeWithOptions({ summary: 'write the incident record' }, [
    { workflowId, runId, runbook, report, followUpAfterMs },
  ]);
}
