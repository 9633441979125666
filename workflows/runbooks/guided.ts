// A catalogue runbook, run from its document: each numbered step in order. A manual step waits for
// a responder's done or skip (with a note); a check runs and its output is compared with the
// document's expected output (as expected: done; not: failed, "expected X, got Y"; its source not
// read: unavailable, naming the source and why); an action runs its configured command or flag
// after approval. The Escalation section's rules are timers that notify their targets while the
// runbook is open.
//
// Resolved means confirmed: at the end the document's confirming checks (catalogue/document.ts)
// are weighed, and a responder closes the incident (`close-incident`): done with the root cause as
// the comment, or skip to leave it unresolved. It is resolved only when they close it done; when the
// checks did not confirm it, that done is recorded as a confirmation by hand, with their name.
//
// The document is the worker's own (catalogue/runbooks/<id>.md), read by runbook id when the
// incident starts; each check runs as the worker's document has it, looked up by step id. Nothing
// the workflow's input carries is run. A check the document no longer has (changed since the start)
// runs nothing: the step is unavailable, saying so, and a responder is asked to do it by hand.
import {
  condition,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { CLOSE_STEP, confirmingSteps, type DocumentStep, type RunbookDocument } from '../../catalogue/document';
import {
  incidentSearchAttributes,
  incidentWorkflowId,
  stateQuery,
  WORKFLOW_TYPES,
  type RunbookId,
  type RunbookInput,
  type RunbookResult,
  type StepKind,
} from '../definitions';
import { scheduleFollowUp } from '../follow-up';
import { formatMs, toMs } from '../toolkit/duration';
import { describeOutput, isAutomated, runDocumentCheck, type CheckResult } from '../toolkit/document-checks';
import { Mitigations } from '../toolkit/mitigations';
import { recordPostIncident } from '../toolkit/post-incident';
import { Runbook, startingState, STORE_WRITES_PATCH, type StepDef } from '../toolkit/runbook';
import { GUIDED_DEFAULTS, type GuidedParams } from './guided.params';

const act = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
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

/** The last step: a responder confirms the resolution (or not) and gives the root cause. */
const CLOSE: StepDef = {
  id: CLOSE_STEP,
  title: 'Responder confirms the resolution and records the root cause',
  section: 'Resolution Steps',
  kind: 'manual',
};

export async function guidedRunbook(input: RunbookInput<Partial<GuidedParams>>): Promise<RunbookResult> {
  const p: GuidedParams = { ...GUIDED_DEFAULTS, ...input.params };
  // Incidents started before it ran the document their input carried, and go on doing so.
  const byId = patched('guided-document-by-id');
  // Incidents started before it ended resolved after the last step whatever the checks said.
  // (Both patches are asked before the local activity: a patch first asked in the activation that
  // resolves a local activity does not replay reliably when a workflow task ends between them.)
  const confirmByResponder = patched('guided-confirm-resolution');
  // The same holds for the toolkit's own patch, asked again when the Runbook is built below.
  patched(STORE_WRITES_PATCH);
  // Until the worker's document is read, the incident answers `state` with no steps yet.
  if (byId) setHandler(stateQuery, () => startingState(input, []));
  const doc: RunbookDocument = byId
    ? await local.catalogueDocument.executeWithOptions({ summary: `document ${input.runbook}` }, [
        { runbook: input.runbook },
      ])
    : (input.document as RunbookDocument);
  const steps: StepDef[] = doc.steps.map((s) => ({ id: s.id, title: s.title, section: s.section, kind: KIND[s.kind] }));
  if (confirmByResponder) steps.push(CLOSE);
  const rb = new Runbook({ ...input, params: { ...p } }, steps);
  const mitigations = new Mitigations(rb);
  const deadlineMs = toMs(p.stepDeadline);
  const startedMs = Date.now();
  let finished = false;
  const done: string[] = [];
  const checks = new Map<string, CheckResult>();

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
          // The responder's words as they gave them; the decision itself is on the step too.
          const note = `${d?.by ?? 'nobody'}: ${d?.decision ?? 'withdrawn'}${d?.comment ? ` (${d.comment})` : ''}`;
          if (d?.decision === 'done') rb.note(step.id, note);
          else rb.skip(step.id, note);
          done.push(`${step.title}: ${note}`);
        });
      } else if (isAutomated(step)) {
        await rb.step(step.id, async () => {
          const scope = { service: input.service, environment: input.environment };
          const r = await runDocumentCheck(step, p.vars, scope, byId ? input.runbook : undefined);
          checks.set(step.id, r);
          rb.finding({ step: step.id, level: LEVEL[r.outcome], summary: r.summary, evidence: r.evidence });
          if (r.missing) {
            // The document changed under the incident: nothing ran, and a human does the step.
            const d = await rb.gate(step.id, {
              kind: 'manual',
              deadlineMs,
              detail: `${r.summary}. Do "${step.title}" by hand, then done with what you found, or skip.`,
            });
            const said = `${d?.by ?? 'nobody'}: ${d?.decision ?? 'withdrawn'}${d?.comment ? ` (${d.comment})` : ''}`;
            rb.unavailable(step.id, `${r.source}: ${r.summary}; by hand, ${said}`);
            done.push(`${step.title}: ${r.summary}; by hand, ${said}`);
            return;
          }
          // One outcome per step: only an answer as expected is done.
          if (r.outcome === 'met') rb.note(step.id, r.summary);
          else if (r.outcome === 'missed') rb.fail(step.id, `expected ${r.expect}, got ${describeOutput(r.output)}`);
          else rb.unavailable(step.id, `${r.source}: ${r.summary}`);
          done.push(`${step.title}: ${r.summary}`);
        });
      } else if (step.kind === 'runbook' && step.runbook) {
        const target = step.runbook;
        await rb.step(step.id, async () => {
          const result = await handOver(target);
          const summary = `${target}: ${result.status}, ${result.diagnosis?.primary ?? 'no diagnosis'}; ${result.resolution}`;
          // The other runbook's own verdict: only its resolved is this step's done.
          if (result.status === 'resolved') rb.note(step.id, summary);
          else rb.fail(step.id, summary);
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
    if (confirmByResponder) return await close();
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

  /**
   * The end: the confirming checks are weighed and a responder closes the incident. Resolved only
   * when they close it done; the root cause is theirs. Never resolved by the runbook alone.
   */
  async function close(): Promise<RunbookResult> {
    const confirming = confirmingSteps(doc);
    const missed = confirming.filter((s) => s.expect === undefined || checks.get(s.id)?.outcome !== 'met');
    const confirmed = confirming.length > 0 && missed.length === 0;
    const answered = (s: DocumentStep) => {
      const r = checks.get(s.id);
      if (!r) return `${s.title}: did not run`;
      // Without an expected output an answer confirms nothing (only the last section's checks by default).
      return s.expect === undefined
        ? `${s.title}: ${r.summary}, with no expected output to confirm it`
        : `${s.title}: ${r.summary}`;
    };
    const verdict = confirmed
      ? `confirmed by its checks: ${confirming.map(answered).join('; ')}`
      : confirming.length === 0
        ? 'not confirmed by its checks: the document marks no check that confirms resolution, and its last step section has none'
        : `not confirmed by its checks: ${missed.map(answered).join('; ')}`;
    rb.finding({
      step: CLOSE_STEP,
      level: confirmed ? 'info' : 'warning',
      summary: verdict,
      evidence: confirming.map((s) => checks.get(s.id) ?? { step: s.id, outcome: 'did not run' }),
    });
    // Until a responder says otherwise, an incident its checks did not confirm is unresolved.
    if (!confirmed) rb.setStatus('unresolved');
    rb.note(CLOSE_STEP, verdict);
    const d = await rb.step(CLOSE_STEP, async () => {
      const decision = await rb.gate(CLOSE_STEP, {
        kind: 'manual',
        deadlineMs,
        detail: `${verdict}. done with the root cause as the comment closes it resolved${confirmed ? '' : ' (confirmed by hand)'}; skip leaves it unresolved.`,
      });
      const by = decision?.by ?? 'nobody';
      const said = `${by}: ${decision?.decision ?? 'withdrawn'}${decision?.comment ? ` (${decision.comment})` : ''}`;
      if (decision?.decision === 'done')
        rb.note(CLOSE_STEP, `${said}; ${confirmed ? verdict : `confirmed by hand by ${by}, ${verdict}`}`);
      else rb.skip(CLOSE_STEP, `${said}; closed unresolved, ${verdict}`);
      return decision;
    });
    finished = true;
    const by = d?.by ?? 'nobody';
    const resolved = d?.decision === 'done';
    const resolution = resolved
      ? confirmed
        ? `${verdict}; closed by ${by}`
        : `confirmed by hand by ${by}; ${verdict}`
      : `closed unresolved by ${by}; ${verdict}`;
    rb.state.resolution = resolution;
    rb.setStatus('follow_up');
    await recordPostIncident(
      input.runbook,
      {
        rootCause: d?.comment?.trim() || `not given by ${by}`,
        impact: `${Math.round((Date.now() - startedMs) / 60_000)} minutes from start to the close`,
        resolution: `${resolution}. Steps: ${done.join('; ')}`.slice(0, 4000),
        followUps: doc.prevention,
      },
      toMs(p.followUpAfter),
    );
    if (doc.prevention.length) await scheduleFollowUp(input, doc.prevention, toMs(p.followUpAfter));
    await Promise.all(timers);
    rb.setStatus(resolved ? 'resolved' : 'unresolved');
    await rb.flush();
    return { status: rb.state.status, diagnosis: rb.state.diagnosis, resolution };
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
