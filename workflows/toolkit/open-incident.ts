// Scheduled checks (the provider probe, maintenance passes) open incidents the way the gateway
// does: one per key. A check that fails again while its incident is open tells that incident
// (as a re-fired alert) instead of opening a second one, and only when what it found changed.
import {
  getExternalWorkflowHandle,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
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
  /** `unchanged`: the open incident has heard this already; it was not told again. */
  outcome: 'started' | 'joined' | 'unchanged';
}

const store = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

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
  // Checks run every minute or so: the open incident hears only what changed, so its history stays
  // bounded however long it lasts. Checks started before this signalled every failure.
  const onlyNews = patched('join-only-with-news');
  const delivered = (outcome: 'started' | 'joined') =>
    onlyNews ? store.recordDelivered({ runbook: input.runbook, workflowId, alert: input.alert, outcome }) : undefined;
  try {
    await startChild(WORKFLOW_TYPES[input.runbook] as string, {
      workflowId,
      args: [input],
      // The incident outlives the check that found it.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `${input.runbook} · ${input.service}/${input.environment} · ${input.startedBy}`,
      typedSearchAttributes: incidentSearchAttributes(input),
    });
    await delivered('started');
    return { workflowId, outcome: 'started' };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    if (onlyNews && !(await store.alertIsNews({ workflowId, alert: input.alert })))
      return { workflowId, outcome: 'unchanged' };
    await getExternalWorkflowHandle(workflowId).signal(alertSignal, input.alert);
    await delivered('joined');
    return { workflowId, outcome: 'joined' };
  }
}
