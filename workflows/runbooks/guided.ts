// A catalogue runbook, run from its document: each numbered step in order. A manual step waits for
// a responder's done or skip (with a note); a check runs and its output is compared with the
// document's expected output; an action runs its configured command or flag after approval.
// The Escalation section's rules are timers that notify their targets while the runbook is open.
import { condition, ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { DocumentStep, RunbookDocument } from '../../catalogue/document';
import {
  incidentSearchAttributes,
  incidentWorkflowId,
  WORKFLOW_TYPES,
  type RunbookId,
  type RunbookInput,
  type RunbookResult,
  type StepKind,
} from '../definitions';
import { scheduleFollowUp } from '../follow-up';
import { formatMs, toMs } from '../toolkit/duration';
import { isAutomated, runDocumentCheck, type CheckResult } from '../toolkit/document-checks';
import { Mitigations } from '../toolkit/mitigations';
import { recordPostIncident } from '../toolkit/post-incident';
import { Runbook, type StepDef } from '../toolkit/runbook';
import { GUIDED_DEFAULTS, type GuidedParams } from './guided.params';

const act = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

const KIND: Record<DocumentStep['kind'], StepKind> = {
  manual: 'manual',
  check: 'auto',
  action: 'approval',
  runbook: 'auto',
  diagnostic: 'auto',
};

const LEVEL: Record<CheckResult['outcome'], 'info' | 'warning' | 'unavailable'> = {
  met: 'info',
  missed: 'warning',
  unavailable: 'unavailable',
  not_configured: 'unavailable',
};

export async function guidedRunbook(
  input: RunbookInput<Partial<GuidedParams>> & { document: RunbookDocument },
): Promise<RunbookResult> {
  const p: GuidedParams = { ...GUIDED_DEFAULTS, ...input.params };
  const doc = input.document;
  const steps: StepDef[] = doc.steps.map((s) => ({ id: s.id, title: s.title, section: s.section, kind: KIND[s.kind] }));
  const rb = new Runbook({ ...input, params: { ...p } }, steps);
  const mitigations = new Mitigations(rb);
  const deadlineMs = toMs(p.stepDeadline);
  const startedMs = Date.now();
  let finished = false;
  const done: string[] = [];

  // "When and how to escalate": each rule notifies its target if the runbook is still open by then.
  const timers = doc.escalation.map(async (rule) => {
    if (await condition(() => finished, rule.afterMs)) return;
    const sent = await act.notify.executeWithOptions({ summary: `escalate to ${rule.target}` }, [
      {
        target: rule.target,
        text: `${doc.title} on ${input.service} (${input.environment}) still open after ${formatMs(rule.afterMs)}: ${workflowInfo().workflowId}`,
      },
    ]);
    rb.record(
      'escalated',
      `open after ${formatMs(rule.afterMs)} → ${rule.target}: ${sent.delivered.join(', ') || 'not sent'}`,
      sent,
    );
  });

  try {
    rb.setStatus('diagnosing');
    for (const step of doc.steps) {
      if (step.kind === 'manual') {
        await rb.step(step.id, async () => {
          const d = await rb.gate(step.id, { kind: 'manual', deadlineMs });
          const note = `${d?.by ?? 'nobody'}: ${d?.decision ?? 'withdrawn'}${d?.comment ? ` (${d.comment})` : ''}`;
          if (d?.decision === 'skip') rb.skip(step.id, note);
          else rb.note(step.id, note);
          done.push(`${step.title}: ${note}`);
        });
      } else if (isAutomated(step)) {
        await rb.step(step.id, async () => {
          const r = await runDocumentCheck(step, p.vars, { service: input.service, environment: input.environment });
          rb.finding({ step: step.id, level: LEVEL[r.outcome], summary: r.summary, evidence: r.evidence });
          rb.note(step.id, r.summary);
          done.push(`${step.title}: ${r.summary}`);
        });
      } else if (step.kind === 'runbook' && step.runbook) {
        const target = step.runbook;
        await rb.step(step.id, async () => {
          const result = await handOver(target);
          const summary = `${target}: ${result.status}, ${result.diagnosis?.primary ?? 'no diagnosis'}; ${result.resolution}`;
          rb.note(step.id, summary);
          done.push(`${step.title}: ${summary}`);
        });
      } else if (step.kind === 'action') {
        rb.setStatus('mitigating');
        const outcome = await mitigations.apply({
          step: step.id,
          temporary: false,
          detail: `${step.title} (action ${step.action})`,
          deadlineMs,
          vars: p.vars,
        });
        done.push(`${step.title}: ${outcome}`);
      }
    }
    finished = true;
    rb.setStatus('follow_up');
    const resolution = `followed ${doc.steps.length} steps of "${doc.title}"`;
    rb.state.resolution = resolution;
    // What was done per step is the record: the document can then be updated from it.
    await recordPostIncident(
      input.runbook,
      {
        rootCause: 'see the steps taken',
        impact: `${Math.round((Date.now() - startedMs) / 60_000)} minutes from start to the last step`,
        resolution: `${resolution}: ${done.join('; ')}`.slice(0, 4000),
        followUps: doc.prevention,
      },
      toMs(p.followUpAfter),
    );
    if (doc.prevention.length) await scheduleFollowUp(input, doc.prevention, toMs(p.followUpAfter));
    await Promise.all(timers);
    rb.setStatus('resolved');
    await rb.flush();
    return { status: rb.state.status, diagnosis: rb.state.diagnosis, resolution };
  } catch (err) {
    finished = true;
    return await mitigations.abandon(err);
  }

  /** The other runbook runs as this incident's child, with the same service, alert and policy. */
  async function handOver(runbook: RunbookId): Promise<RunbookResult> {
    const key = `${input.incidentKey}-${runbook}`;
    const childInput = await act.incidentInput({
      req: {
        runbook,
        service: input.service,
        environment: input.environment,
        severity: input.severity,
        source: input.source,
        startedBy: `${input.runbook} (${workflowInfo().workflowId})`,
        alert: input.alert,
      },
      key,
    });
    const child = await startChild(WORKFLOW_TYPES[runbook] as string, {
      workflowId: incidentWorkflowId(runbook, key),
      args: [childInput],
      // Cancelled with its parent, so its temporary mitigations are undone.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      staticSummary: `${runbook} · ${input.service}/${input.environment} · handed over by ${input.runbook}`,
      typedSearchAttributes: incidentSearchAttributes(childInput),
    });
    rb.record('handed_over', `${runbook} runs as ${child.workflowId}`, { workflowId: child.workflowId }, undefined);
    return (await child.result()) as RunbookResult;
  }
}
