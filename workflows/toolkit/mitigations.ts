// Mitigations: each waits for approval (unless the policy pre-approves it) showing what will run,
// runs its configured action at most once per incident run, and, when temporary, is undone at the
// end by putting back what was there. With nothing configured it asks once, to do it by hand.
import { CancellationScope, isCancellation, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ActionOutcome } from '../../activities/actions';
import { planAction } from '../../config/action-plan';
import type { RunbookResult } from '../definitions';
import { DrillReached, type Runbook } from './runbook';

// Retries are safe: the action records its intent before it runs, so a retry after a crash finds
// the intent and answers "outcome unknown" rather than running the command again. The heartbeat
// timeout is what notices a dead worker.
const actions = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
});

/** A runbook's parameters as action variables: the `{name}` an action's config may use. */
export function paramVars(params: object): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (typeof v === 'string' || typeof v === 'number') vars[k] = String(v);
  return vars;
}

export type MitigationOutcome = 'applied' | 'rejected' | 'failed' | 'withdrawn';

export interface MitigationRequest {
  step: string;
  temporary: boolean;
  detail: string;
  deadlineMs: number;
  withdrawWhen?: () => boolean;
  /** Runs after the action succeeded, inside the same step (e.g. a follow-up check or notice). */
  after?: () => Promise<void>;
  /** Fills `{name}` in the configured action (parameters, the diagnosed feature); kept for the undo. */
  vars?: Record<string, string>;
  /** Why a lasting (not temporary) mitigation stays after the incident; said in the removal step. */
  keepReason?: string;
}

export interface MitigationsCarry {
  applied: string[];
  kept: string[];
  vars: Record<string, Record<string, string>>;
}

export class Mitigations {
  private readonly applied: string[] = [];
  /** Mitigations that stay after the incident, each with the reason. */
  private readonly kept: string[] = [];
  private readonly vars = new Map<string, Record<string, string>>();

  constructor(
    private readonly rb: Runbook,
    carried?: MitigationsCarry,
  ) {
    if (!carried) return;
    this.applied.push(...carried.applied);
    this.kept.push(...carried.kept);
    for (const [step, vars] of Object.entries(carried.vars)) this.vars.set(step, vars);
  }

  /** What the next run needs to undo what this one applied (see `Runbook.carry`). */
  carry(): MitigationsCarry {
    return { applied: [...this.applied], kept: [...this.kept], vars: Object.fromEntries(this.vars) };
  }

  /** The action's variables: the incident's service and environment, then the runbook's own. */
  private varsOf(step: string, vars?: Record<string, string>): Record<string, string> {
    const all = { service: this.rb.input.service, environment: this.rb.input.environment, ...vars };
    this.vars.set(step, all);
    return all;
  }

  async apply(req: MitigationRequest): Promise<MitigationOutcome> {
    const { rb } = this;
    const m = rb.mitigation(req.step, req.temporary);
    m.detail = req.detail;
    if (rb.input.drill) {
      m.status = 'rejected';
      rb.skip(req.step, 'drill: reached, not run');
      rb.record('drill_mitigation', `${m.title}: the mitigation the drill reached (not run)`, req.detail, req.step);
      throw new DrillReached(req.step);
    }
    // Incidents started before the actions were carried ask as they did: approve, then run.
    if (!rb.input.actions) {
      if (req.vars) this.vars.set(req.step, req.vars);
      return this.askThenRun(req);
    }
    const plan = planAction(rb.input.actions[req.step], 'apply', this.varsOf(req.step, req.vars));
    if (!plan || plan.unfilled.length) {
      const why = !plan
        ? 'no action is configured for this step'
        : `the configured action needs ${plan.unfilled.map((n) => `{${n}}`).join(', ')}, which this incident has no value for`;
      return this.byHand(req, why);
    }
    return this.askThenRun({ ...req, detail: `${req.detail}\nWill run: ${plan.what}` }, plan.what);
  }

  /** Approval (or the policy's pre-approval), then the configured action, once. */
  private async askThenRun(req: MitigationRequest, approved?: string): Promise<MitigationOutcome> {
    const { rb } = this;
    const m = rb.mitigation(req.step, req.temporary);
    m.detail = req.detail;
    let approvedBy: string;
    if (rb.input.preApproved.includes(req.step)) {
      approvedBy = 'approval policy';
      rb.record('pre_approved', `${m.title}: pre-approved by the approval policy`, undefined, req.step);
    } else {
      const decision = await rb.gate(req.step, {
        detail: req.detail,
        deadlineMs: req.deadlineMs,
        withdrawWhen: req.withdrawWhen,
      });
      if (!decision) {
        rb.skip(req.step, 'withdrawn: the alert resolved');
        m.status = 'rejected';
        return 'withdrawn';
      }
      if (decision.decision === 'reject') {
        m.status = 'rejected';
        rb.skip(req.step, `rejected by ${decision.by}${decision.comment ? `: ${decision.comment}` : ''}`);
        return 'rejected';
      }
      approvedBy = decision.by;
    }
    m.status = 'approved';
    rb.setStatus('mitigating');
    return this.execute(req, approvedBy, approved);
  }

  /** Nothing this tool can run: one question, to do it by hand and mark it done; who did is recorded. */
  private async byHand(req: MitigationRequest, why: string): Promise<MitigationOutcome> {
    const { rb } = this;
    const m = rb.mitigation(req.step, req.temporary);
    const question = `${req.detail}\nDo this by hand (${why}), then mark it done; skip if it is not done.`;
    m.detail = question;
    const answer = await rb.gate(req.step, {
      kind: 'manual',
      detail: question,
      deadlineMs: req.deadlineMs,
      withdrawWhen: req.withdrawWhen,
    });
    if (answer?.decision !== 'done') {
      m.status = 'rejected';
      rb.skip(req.step, answer ? `not done: skipped by ${answer.by}` : 'withdrawn: the alert resolved');
      return answer ? 'rejected' : 'withdrawn';
    }
    rb.setStatus('mitigating');
    return rb.step(req.step, async (): Promise<MitigationOutcome> => {
      const summary = `done by hand by ${answer.by}${answer.comment ? `: ${answer.comment}` : ''}`;
      m.status = 'applied';
      m.detail = summary;
      rb.record('mitigation_applied', `${m.title}: ${summary}`, undefined, req.step);
      rb.note(req.step, summary);
      // Done by hand is undone by hand: the removal step names it.
      if (req.temporary) this.kept.push(`${req.step} (done by hand by ${answer.by}: undo it by hand)`);
      if (req.after) await req.after();
      return 'applied';
    });
  }

  /** Runs a step's action without asking (an immediate action the document prescribes). */
  async runApproved(step: string, temporary: boolean, by: string): Promise<MitigationOutcome> {
    this.rb.mitigation(step, temporary).status = 'approved';
    if (this.rb.input.actions) this.varsOf(step);
    const outcome = await this.run(step, 'apply', by);
    const effective = await this.settle(step, outcome, 15 * 60_000);
    this.finish(step, temporary, outcome.summary, effective);
    return effective ? 'applied' : 'failed';
  }

  private async execute(req: MitigationRequest, by: string, approved?: string): Promise<MitigationOutcome> {
    return this.rb.step(req.step, async () => {
      const outcome = await this.run(req.step, 'apply', by, approved);
      const effective = await this.settle(req.step, outcome, req.deadlineMs);
      this.finish(req.step, req.temporary, outcome.summary, effective);
      if (effective && !req.temporary && this.rb.input.actions)
        this.kept.push(`${req.step} (${req.keepReason ?? 'a lasting fix, not undone with the incident'})`);
      if (!effective) {
        this.rb.fail(req.step, outcome.summary);
        return 'failed';
      }
      this.rb.note(req.step, `applied (approved by ${by}): ${outcome.summary}`);
      if (req.after) await req.after();
      return 'applied';
    });
  }

  private finish(step: string, temporary: boolean, summary: string, effective: boolean): void {
    const m = this.rb.mitigation(step, temporary);
    m.status = effective ? 'applied' : 'failed';
    m.detail = summary;
    this.rb.record(effective ? 'mitigation_applied' : 'mitigation_failed', `${m.title}: ${summary}`, undefined, step);
    if (effective && temporary) this.applied.push(step);
  }

  /** Undoes temporary mitigations, newest first; runs even when the incident is cancelled. */
  async undoAll(reason: string): Promise<{ undone: string[]; failed: string[]; changed: string[] }> {
    const undone: string[] = [];
    const failed: string[] = [];
    // Changed by someone since the mitigation: left for a responder, never overwritten.
    const changed: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      while (this.applied.length > 0) {
        const step = this.applied.pop() as string;
        const outcome = await this.run(step, 'undo', reason);
        const m = this.rb.state.mitigations.find((x) => x.step === step);
        if (m) {
          m.status = outcome.status === 'succeeded' ? 'undone' : m.status;
          m.detail = `undo: ${outcome.summary}`;
        }
        (outcome.status === 'succeeded' ? undone : outcome.status === 'conflict' ? changed : failed).push(
          `${step}: ${outcome.summary}`,
        );
        this.rb.record('mitigation_undone', `${step}: ${outcome.summary}`, outcome, step);
      }
    });
    return { undone, failed, changed };
  }

  /** The step that removes the temporary mitigations: done only when each was undone, skipped when there were none. */
  async removeTemporary(step: string, reason: string, deadlineMs = 60 * 60_000): Promise<void> {
    const kept = this.kept.length ? `; left in place: ${this.kept.join('; ')}` : '';
    if (this.applied.length === 0) return this.rb.skip(step, `no temporary mitigation was applied${kept}`);
    await this.rb.step(step, async () => {
      const { undone, failed, changed } = await this.undoAll(reason);
      const done = undone.length ? `; undone: ${undone.join('; ')}` : '';
      if (failed.length) return this.rb.fail(step, `NOT undone: ${failed.join('; ')}${done}${kept}`);
      if (changed.length) {
        // A flag someone set meanwhile is theirs: a responder decides, the runbook does not overwrite it.
        const question = `Changed since the mitigation, so not put back: ${changed.join('; ')}. Put it right by hand if needed, then mark done; skip leaves it as it is.`;
        const answer = await this.rb.gate(step, { kind: 'manual', detail: question, deadlineMs });
        const who = answer
          ? `${answer.by} ${answer.decision === 'done' ? 'put it right by hand' : 'left it as it is'}`
          : 'nobody answered';
        return this.rb.note(step, `changed since the mitigation (${who}): ${changed.join('; ')}${done}${kept}`);
      }
      this.rb.note(step, `undone: ${undone.join('; ')}${kept}`);
    });
  }

  /**
   * The runbook ends early: cancelled, its temporary mitigations are undone; failed, it says why.
   * Either way the timeline lands, and the error goes on to Temporal.
   */
  async abandon(err: unknown): Promise<RunbookResult> {
    const { rb } = this;
    if (err instanceof DrillReached) {
      // A drill ends where the first mitigation would be asked for: what it came to find out.
      rb.state.resolution = `drill ${rb.input.drill?.scenario}: reached ${err.step} (not run)`;
      rb.setStatus('resolved');
      await rb.flush();
      return {
        status: rb.state.status,
        diagnosis: rb.state.diagnosis,
        resolution: rb.state.resolution,
        drillMitigation: err.step,
      };
    }
    if (isCancellation(err)) {
      rb.setStatus('cancelled');
      rb.state.resolution = 'cancelled';
      await this.undoAll('incident cancelled');
      await rb.flushNonCancellable();
    } else {
      rb.setStatus('failed');
      rb.record('failed', (err as Error).message);
      await rb.flush();
    }
    throw err;
  }

  private run(step: string, phase: 'apply' | 'undo', by: string, approved?: string): Promise<ActionOutcome> {
    const runId = this.rb.input.actions ? workflowInfo().firstExecutionRunId : undefined;
    return actions.runAction.executeWithOptions({ summary: `${phase} ${step}` }, [
      { workflowId: this.rb.workflowId, runId, step, phase, by, vars: this.vars.get(step), approved },
    ]);
  }

  /** A missing or unknown outcome is handed to a human; nothing is re-run silently. */
  private async settle(step: string, outcome: ActionOutcome, deadlineMs: number): Promise<boolean> {
    if (outcome.status === 'succeeded') return true;
    if (outcome.status === 'failed') return false;
    const question =
      outcome.status === 'not_configured'
        ? `No command is configured for ${step}: do it by hand, then mark it done (or skip).`
        : `The worker stopped while ${step} ran; its outcome is unknown. Check it, then mark done if it took effect, skip if not.`;
    const m = this.rb.mitigation(step, false);
    m.status = 'outcome_unknown';
    this.rb.note(step, question);
    const answer = await this.rb.gate(step, { kind: 'manual', detail: question, deadlineMs });
    return answer?.decision === 'done';
  }
}
