// A scheduled maintenance pass, run by a Temporal Schedule per runbook: every automated check of
// the runbook's document (its SQL, PromQL and HTTP checks, its diagnostics), compared with the
// document's expected outputs. The result goes to the incident store; a failing pass opens the
// runbook, or tells the one already open, so a problem found every night is one incident.
import {
  ApplicationFailure,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { MaintenanceRunbook } from './definitions';
import type { GuidedParams } from './runbooks/guided.params';
import { isAutomated, runDocumentCheck, type CheckResult } from './toolkit/document-checks';
import { checkAlert, openOrJoinIncident, type OpenedIncident } from './toolkit/open-incident';

const act = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 5 } });
const local = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

export interface MaintenanceInput {
  runbook: MaintenanceRunbook;
  service: string;
  environment: string;
}

export interface MaintenanceOutcome {
  ok: boolean;
  summary: string;
  checks: CheckResult[];
  incident?: OpenedIncident;
}

const MARK: Record<CheckResult['outcome'], string> = {
  met: '[x]',
  missed: '[ ]',
  unavailable: '[ ]',
  not_configured: '[-]',
};

/** Failing: not as expected, or the source could not be read. A source nobody configured is skipped. */
const failing = (c: CheckResult): boolean => c.outcome === 'missed' || c.outcome === 'unavailable';

export async function maintenanceRun({ runbook, service, environment }: MaintenanceInput): Promise<MaintenanceOutcome> {
  const startedAt = new Date().toISOString();
  const req = {
    runbook,
    service,
    environment,
    // Found by a routine pass, not by users: worked in hours, escalated by the document's own rules.
    severity: 'P3',
    source: 'maintenance' as const,
    startedBy: 'scheduled maintenance',
  };
  // The document and its variables, exactly as the runbook would start with them. The worker's
  // own document, read by runbook id, whose checks it runs by step id (before: the input's).
  const byId = patched('maintenance-document-by-id');
  const runInput = await act.incidentInput({ req, key: `maintenance-${service}-${environment}` });
  const doc = byId ? await local.catalogueDocument({ runbook }) : runInput.document;
  if (!doc) throw ApplicationFailure.nonRetryable(`${runbook} has no document`, 'NoDocument');
  const { vars } = runInput.params as unknown as GuidedParams;

  const checks: CheckResult[] = [];
  for (const step of doc.steps.filter(isAutomated)) {
    checks.push(await runDocumentCheck(step, vars, { service, environment }, byId ? runbook : undefined));
    // The Web UI's "current details": each check as it is answered.
    setCurrentDetails(
      [
        `**${doc.title}**: maintenance pass`,
        '',
        ...checks.map((c) => `- ${MARK[c.outcome]} ${c.title}: ${c.summary}`),
      ].join('\n'),
    );
  }
  const failed = checks.filter(failing);
  const skipped = checks.filter((c) => c.outcome === 'not_configured').length;
  const summary = failed.length
    ? `${failed.length} of ${checks.length} checks failed: ${failed.map((c) => `${c.title}: ${c.summary}`).join('; ')}`
    : `${checks.length - skipped} checks as expected${skipped ? `, ${skipped} not configured` : ''}`;

  let incident: OpenedIncident | undefined;
  if (failed.length) {
    const alert = checkAlert(
      'MaintenanceCheckFailed',
      `maintenance:${runbook}/${service}/${environment}`,
      // Which checks fail is what a later pass tells the open incident, when it changes.
      { runbook, service, environment, failing: failed.map((c) => c.step).join(',') },
      summary,
    );
    incident = await openOrJoinIncident({ ...runInput, alert });
  }
  const info = workflowInfo();
  await act.recordMaintenanceRun({
    workflowId: info.workflowId,
    runId: info.runId,
    runbook,
    startedAt,
    ok: failed.length === 0,
    summary,
    checks,
    incident,
  });
  return { ok: failed.length === 0, summary, checks, incident };
}
