// Scheduled checks (the provider probe, maintenance passes) open incidents the way the gateway
// does: one per key. A check that fails again while its incident is open tells that incident
// (as a re-fired alert) instead of opening a second one.
import { getExternalWorkflowHandle, ParentClosePolicy, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  alertSignal,
  incidentSearchAttributes,
  incidentWorkflowId,
  WORKFLOW_TYPES,
  type AlertEvent,
  type RunbookInput,
} from '../definitions';

export interface OpenedIncident {
  workflowId: string;
  outcome: 'started' | 'joined';
}

/** The alert a scheduled check raises: firing now, keyed so each failure of the same check matches. */
export function checkAlert(
  alertname: string,
  key: string,
  labels: Record<string, string>,
  summary?: string,
): AlertEvent {
  return {
    key,
    status: 'firing',
    alertname,
    labels: { alertname, ...labels },
    annotations: summary === undefined ? {} : { summary: summary.slice(0, 1000) },
    startsAt: new Date().toISOString(),
  };
}

export async function openOrJoinIncident(input: RunbookInput & { alert: AlertEvent }): Promise<OpenedIncident> {
  const workflowId = incidentWorkflowId(input.runbook, input.incidentKey);
  try {
    await startChild(WORKFLOW_TYPES[input.runbook] as string, {
      workflowId,
      args: [input],
      // The incident outlives the check that found it.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `${input.runbook} · ${input.service}/${input.environment} · ${input.startedBy}`,
      typedSearchAttributes: incidentSearchAttributes(input),
    });
    return { workflowId, outcome: 'started' };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await getExternalWorkflowHandle(workflowId).signal(alertSignal, input.alert);
    return { workflowId, outcome: 'joined' };
  }
}
