// Mitigations: each waits for approval (unless the policy pre-approves it), runs its configured
// action at most once, and, when temporary, is registered with its undo.
import { CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ActionOutcome } from '../../activities/actions';
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
}

export class Mitigations {
  private readonly applied: string[] = [];
  private readonly vars = new Map<string, Record<string, string>>();

  constructor(private readonly rb: Runbook) {}

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
    if (req.vars) this.vars.set(req.step, req.vars);
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
    return this.execute(req, approvedBy);
  }

  /** Runs a step's action without asking (an immediate action the document prescribes). */
  async runApproved(step: string, temporary: boolean, by: string): Promise<MitigationOutcome> {
    this.rb.mitigation(step, temporary).status = 'approved';
    const outcome = await this.run(step, 'apply', by);
    const effective = await this.settle(step, outcome, 15 * 60_000);
    this.finish(step, temporary, outcome.summary, effective);
    return effective ? 'applied' : 'failed';
  }

  private async execute(req: MitigationRequest, by: string): Promise<MitigationOutcome> {
    return this.rb.step(req.step, async () => {
      const outcome = await this.run(req.step, 'apply', by);
      const effective = await this.settle(req.step, outcome, req.deadlineMs);
      this.finish(req.step, req.temporary, outcome.summary, effective);
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
  async undoAll(reason: string): Promise<{ undone: string[]; failed: string[] }> {
    const undone: string[] = [];
    const failed: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      while (this.applied.length > 0) {
        const step = this.applied.pop() as string;
        const outcome = await this.run(step, 'undo', reason);
        const m = this.rb.state.mitigations.find((x) => x.step === step);
        if (m) {
          m.status = outcome.status === 'succeeded' ? 'undone' : m.status;
          m.detail = `undo: ${outcome.summary}`;
        }
        (outcome.status === 'succeeded' ? undone : failed).push(`${step}: ${outcome.summary}`);
        this.rb.record('mitigation_undone', `${step}: ${outcome.summary}`, outcome, step);
      }
    });
    return { undone, failed };
  }

  /** The step that removes the temporary mitigations: done only when each was undone, skipped when there were none. */
  async removeTemporary(step: string, reason: string): Promise<void> {
    if (this.applied.length === 0) return this.rb.skip(step, 'no temporary mitigation was applied');
    await this.rb.step(step, async () => {
      const { undone, failed } = await this.undoAll(reason);
      if (failed.length)
        this.rb.fail(step, `NOT undone: ${failed.join('; ')}${undone.length ? `; undone: ${undone.join('; ')}` : ''}`);
      else this.rb.note(step, `undone: ${undone.join('; ')}`);
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

  private run(step: string, phase: 'apply' | 'undo', by: string): Promise<ActionOutcome> {
    return actions.runAction.executeWithOptions({ summary: `${phase} ${step}` }, [
      { workflowId: this.rb.workflowId, step, phase, by, vars: this.vars.get(step) },
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
