// The runbook toolkit: named steps, a timeline, approvals, manual steps, escalation, and the
// Temporal UI's view of it all. A runbook file builds one Runbook and reads like its document.
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { NotifyResult } from '../../activities/notify';
import type { TimelineEvent } from '../../activities/store';
import {
  alertSignal,
  decideUpdate,
  decisionSignal,
  SA,
  stateQuery,
  type AlertEvent,
  type DecisionInput,
  type DecisionKind,
  type DecisionResult,
  type Finding,
  type IncidentState,
  type IncidentStatus,
  type MitigationState,
  type PendingApproval,
  type RunbookInput,
  describeDecision,
  type StepDecision,
  type StepKind,
  type StepStatus,
} from '../definitions';
import { formatMs } from './duration';

export interface StepDef {
  id: string;
  title: string;
  section: string;
  kind: StepKind;
}

const store = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  // The store may be down; the runbook goes on and its record lands when it is back.
  retry: { initialInterval: '1s', maximumInterval: '1m', backoffCoefficient: 2 },
});

/**
 * Timeline events that are news for whoever reads the incident store: written at once. The rest
 * (steps starting and ending, findings, each check of a window) go with the next of these, the next
 * question to a responder, the end, or at the latest STORE_WRITE_EVERY_MS after the last write: a
 * Temporal action per state change worth recording, not per step.
 */
const WRITE_AT_ONCE = new Set([
  'started',
  'continued',
  'status',
  'severity',
  'severity_raised',
  'diagnosis',
  'approval_requested',
  'approval_withdrawn',
  'decision',
  'decision_refused',
  'pre_approved',
  'escalated',
  'handed_over',
  'mitigation_applied',
  'mitigation_failed',
  'mitigation_undone',
  'validation_window',
  'alert_firing',
  'alert_resolved',
  'failed',
]);
const STORE_WRITE_EVERY_MS = 5 * 60_000;

const HOW_TO_DECIDE =
  'decide through the gateway with a responder token (the runbook CLI with RUNBOOK_TOKEN, or POST /incidents/:id/decisions)';

// The worker checks a decision's proof with its key; the key never enters the workflow.
const proof = proxyLocalActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 } });

const notify = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', maximumInterval: '1m' },
});

interface Waiter {
  pending: PendingApproval;
  decided?: DecisionInput;
}

export interface GateOptions {
  kind?: 'approval' | 'manual';
  decisions?: DecisionKind[];
  detail?: string;
  deadlineMs: number;
  /** Stop waiting (and return undefined) once this turns true, e.g. the alert resolved. */
  withdrawWhen?: () => boolean;
  /** The tier the first missed deadline pages (default 1): 2 when tier 1 was paged at once. */
  escalateFrom?: number;
  /**
   * Waits on a question the previous run asked (carried over), a step of its own: its deadline and
   * escalations stand.
   */
  resume?: boolean;
}

/** The step where runbooks hand mitigation to responders when none of theirs is left. */
export const MANUAL_MITIGATION = 'manual-mitigation';

/**
 * Thrown in a drill where the first mitigation would be offered (or handed to responders);
 * `Mitigations.abandon` turns it into the drill's result.
 */
export class DrillReached extends Error {
  constructor(readonly step: string) {
    super(`drill reached ${step}`);
  }
}

/** What a run hands the next when it continues as new: the state and what it has heard. */
export interface RunbookCarry {
  state: IncidentState;
  /** The last alerts heard (their identities), so a re-sent one is still recognised. */
  seenAlerts: string[];
  alertsFiring: string[];
}

/** An incident's state as its run starts: nothing found, asked or done yet. */
export function startingState(input: RunbookInput, steps: IncidentState['steps']): IncidentState {
  const info = workflowInfo();
  return {
    runbook: input.runbook,
    incidentId: `${info.workflowId}@${info.runId}`,
    severity: input.severity,
    status: 'triage',
    service: input.service,
    environment: input.environment,
    startedAt: new Date(info.startTime).toISOString(),
    params: input.params,
    steps,
    findings: [],
    diagnosis: null,
    pendingApprovals: [],
    mitigations: [],
    alerts: [],
    timelineSize: 0,
  };
}

/** Asked before anything else a run does (see guided.ts): the toolkit's first patch. */
export const STORE_WRITES_PATCH = 'store-writes-on-change';

export class Runbook {
  readonly state: IncidentState;
  readonly input: RunbookInput;
  private readonly defs: Map<string, StepDef>;
  private readonly waiters = new Map<string, Waiter>();
  private readonly seenAlerts = new Set<string>();
  private unsynced: TimelineEvent[] = [];
  private syncChain: Promise<void> = Promise.resolve();
  private syncing = false;
  /** Incidents started before it wrote the store after every event (see WRITE_AT_ONCE). */
  private readonly writesOnChange = patched(STORE_WRITES_PATCH);
  /** A write is asked for: the events so far are to reach the store. */
  private due = false;
  private lastWriteMs = Date.now();
  private upserted = '';
  private alertsFiring: Set<string>;
  private readonly budgets: Record<string, number>;

  /**
   * `budgets`: the time each step should take (ms); a step past its budget is flagged, not stopped.
   * `carried`: the previous run's state, when this run continues it (see `carry`).
   */
  constructor(input: RunbookInput, steps: StepDef[], budgets: Record<string, number> = {}, carried?: RunbookCarry) {
    this.input = input;
    this.budgets = budgets;
    this.defs = new Map(steps.map((s) => [s.id, s]));
    this.state = startingState(
      input,
      steps.map((s) => ({
        id: s.id,
        title: s.title,
        section: s.section,
        kind: s.kind,
        status: 'pending',
        ...(budgets[s.id] !== undefined ? { budget: formatMs(budgets[s.id]) } : {}),
      })),
    );
    this.alertsFiring = new Set();
    setHandler(stateQuery, () => this.state);
    setHandler(decideUpdate, async (d) => this.accept(await this.authenticate(d)), { validator: (d) => this.check(d) });
    setHandler(decisionSignal, (d) => {
      try {
        this.check(d);
        // A signal carries no proof: with responders configured only the gateway's update decides,
        // unless the config says Temporal authenticates its own users.
        const trusted = this.input.trustTemporalSignals === true;
        if (this.closed() && !trusted && patched('decision-proof'))
          throw new Error(`a signal is not authenticated: ${HOW_TO_DECIDE}`);
        this.accept({ ...d, authenticated: trusted });
      } catch (err) {
        this.record('decision_refused', `${d.by} tried to ${d.decision} ${d.step}: ${(err as Error).message}`, {
          ...d,
        });
      }
    });
    setHandler(alertSignal, (alerts) => (Array.isArray(alerts) ? alerts : [alerts]).forEach((a) => this.onAlert(a)));
    if (carried) {
      this.state = carried.state;
      carried.seenAlerts.forEach((id) => this.seenAlerts.add(id));
      this.alertsFiring = new Set(carried.alertsFiring);
      this.record('continued', `continued as a new run (${workflowInfo().runId}): the previous history was long`);
    } else {
      if (input.alert) this.onAlert(input.alert);
      this.record('started', `${input.runbook} started by ${input.startedBy} (${input.source})`, {
        service: input.service,
        environment: input.environment,
        params: input.params,
      });
    }
    this.refresh();
  }

  /** True when this run's history should end here and a new run carry on (`carry`). */
  historyLong(limit: number): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= limit;
  }

  /**
   * The state the next run starts from, once the timeline has reached the store and no decision is
   * being handled: call it right before `continueAsNew`.
   */
  async carry(): Promise<RunbookCarry> {
    await this.flush();
    await condition(allHandlersFinished);
    return {
      state: this.state,
      seenAlerts: [...this.seenAlerts].slice(-500),
      alertsFiring: [...this.alertsFiring],
    };
  }

  get workflowId(): string {
    return workflowInfo().workflowId;
  }

  /** True once every alert this incident has seen is resolved. */
  get alertResolved(): boolean {
    return this.state.alerts.length > 0 && this.alertsFiring.size === 0;
  }

  setStatus(status: IncidentStatus): void {
    if (this.state.status === status) return;
    this.state.status = status;
    this.record('status', `status → ${status}`);
    this.refresh();
  }

  setSeverity(severity: string): void {
    if (this.state.severity === severity) return;
    this.state.severity = severity;
    this.record('severity', `severity → ${severity}`);
    this.refresh();
  }

  record(kind: string, message: string, data?: unknown, step?: string): void {
    this.state.timelineSize += 1;
    this.unsynced.push({ seq: this.state.timelineSize, at: new Date().toISOString(), kind, step, message, data });
    if (!this.writesOnChange || WRITE_AT_ONCE.has(kind) || Date.now() - this.lastWriteMs >= STORE_WRITE_EVERY_MS)
      this.sync();
  }

  finding(finding: Finding): void {
    this.state.findings.push(finding);
    this.record('finding', `${finding.step}: ${finding.summary}`, finding.evidence, finding.step);
  }

  /** Runs one named step of the document, recording its start and end. */
  async step<T>(id: string, run: () => Promise<T>): Promise<T> {
    const step = this.stepState(id);
    // A step carried over from the previous run goes on where it was.
    const carried = step.status === 'running' ? step.startedAt : undefined;
    const startedAt = carried ?? new Date().toISOString();
    if (!carried) {
      step.status = 'running';
      step.startedAt = startedAt;
      this.record('step_started', step.title, undefined, id);
      this.refresh();
    }
    const budget = this.watchBudget(id);
    const end = () => {
      budget?.cancel();
      // Also when the step ended in the same moment its timer would have fired.
      const ms = this.budgets[id];
      if (ms !== undefined && !step.overBudget && Date.now() - Date.parse(startedAt) > ms) this.overBudget(id, ms);
      step.finishedAt = new Date().toISOString();
      this.record('step_finished', `${step.title}: ${step.status}${step.note ? ` (${step.note})` : ''}`, undefined, id);
      this.refresh();
    };
    let result: T;
    try {
      result = await run();
    } catch (err) {
      // The run continues as new inside this step: the next run goes on with it, nothing ends here.
      if (err instanceof ContinueAsNew) throw err;
      step.status = 'failed';
      step.note = (err as Error).message;
      end();
      throw err;
    }
    if (step.status === 'running') step.status = 'done';
    // Done says what it found: the step's last finding, when it left no note of its own.
    if (step.status === 'done' && !step.note)
      step.note = this.state.findings.filter((f) => f.step === id).pop()?.summary;
    end();
    return result;
  }

  /** A timer for the step's budget: when it fires first, the step is flagged in the timeline and the UI. */
  private watchBudget(id: string): CancellationScope | undefined {
    const ms = this.budgets[id];
    if (ms === undefined) return undefined;
    const scope = new CancellationScope();
    scope
      .run(() => sleep(ms, { summary: `${id}: budget ${formatMs(ms)}` }))
      .then(
        () => this.overBudget(id, ms),
        () => undefined,
      );
    return scope;
  }

  private overBudget(id: string, ms: number): void {
    const step = this.stepState(id);
    step.overBudget = true;
    this.record('over_budget', `${step.title}: ran past its ${formatMs(ms)} budget`, undefined, id);
    this.refresh();
  }

  /** Marks a step as not needed for this incident, with the reason. */
  skip(id: string, note: string): void {
    const step = this.stepState(id);
    step.status = 'skipped';
    step.note = note;
    this.record('step_skipped', `${step.title}: skipped (${note})`, undefined, id);
    this.refresh();
  }

  note(id: string, note: string): void {
    this.stepState(id).note = note;
    this.refresh();
  }

  /** Marks a running step as failed without failing the runbook (e.g. a validation that did not hold). */
  fail(id: string, note: string): void {
    const step = this.stepState(id);
    step.status = 'failed';
    step.note = note;
  }

  /**
   * The step could not do what it says: its source is not configured, unreachable or answered an
   * error. Never shown as done; the note names the source and why.
   */
  unavailable(id: string, note: string): void {
    const step = this.stepState(id);
    step.status = 'unavailable';
    step.note = note;
    this.refresh();
  }

  /** A diagnostic whose source could not be read: the step says so, and so does its finding. */
  sourceUnavailable(id: string, reason: string, evidence: unknown = null): void {
    this.unavailable(id, reason);
    this.finding({ step: id, level: 'unavailable', summary: reason, evidence });
  }

  /**
   * Waits for a responder's decision on a step. Past the deadline it escalates and keeps waiting,
   * escalating again each further deadline. Returns undefined when withdrawn.
   */
  async gate(id: string, opts: GateOptions): Promise<DecisionInput | undefined> {
    const def = this.def(id);
    const kind = opts.kind ?? 'approval';
    if (this.input.drill) {
      // Nobody is asked in a drill. A page is acknowledged; anything else gets the answer that
      // changes nothing: an approval is refused, a manual step was not done by anyone.
      const decisions = opts.decisions ?? (kind === 'approval' ? ['approve', 'reject'] : ['done', 'skip']);
      // Mitigating by hand is where a drill with no mitigation of its own ends.
      if (id === MANUAL_MITIGATION) throw new DrillReached(id);
      const decision =
        (['acknowledge', 'reject', 'skip', 'escalate'] as const).find((d) => decisions.includes(d)) ?? decisions[0];
      this.record('drill_answer', `${def.title}: answered "${decision}" by the drill`, undefined, id);
      const answer: DecisionInput = { step: id, decision, by: 'drill', authenticated: false };
      this.decided(answer);
      const step = this.stepState(id);
      if (step.status !== 'running') step.status = DECIDED[decision];
      return answer;
    }
    const now = Date.now();
    const asked = opts.resume ? this.state.pendingApprovals.find((p) => p.step === id) : undefined;
    const pending: PendingApproval = asked ?? {
      step: id,
      title: def.title,
      kind,
      decisions: opts.decisions ?? (kind === 'approval' ? ['approve', 'reject'] : ['done', 'skip']),
      roles: this.rolesFor(id),
      requestedAt: new Date(now).toISOString(),
      deadline: new Date(now + opts.deadlineMs).toISOString(),
      escalations: 0,
      detail: opts.detail,
    };
    const waiter: Waiter = { pending };
    this.waiters.set(id, waiter);
    const step = this.stepState(id);
    // A carried question is a step of its own (acknowledge), asked while the status went on.
    const stepStatus = asked ? 'pending' : step.status;
    const previous = this.state.status;
    if (!asked) {
      this.state.pendingApprovals.push(pending);
      step.status = 'waiting';
      this.setStatus('awaiting_approval');
      this.record('approval_requested', `${def.title}: waiting for ${pending.roles.join(' or ')}`, pending, id);
    }
    this.refresh();
    const withdrawn = opts.withdrawWhen ?? (() => false);
    try {
      while (!waiter.decided && !withdrawn()) {
        const waitMs = Math.max(0, Date.parse(pending.deadline) - Date.now());
        const settled = await condition(() => waiter.decided !== undefined || withdrawn(), waitMs, {
          summary: `deadline ${formatMs(opts.deadlineMs)} for "${def.title}"`,
        });
        if (!settled) {
          pending.escalations += 1;
          pending.deadline = new Date(Date.now() + opts.deadlineMs).toISOString();
          await this.escalate(
            `No decision on "${def.title}" after ${formatMs(opts.deadlineMs * pending.escalations)}`,
            (opts.escalateFrom ?? 1) - 1 + pending.escalations,
          );
        }
      }
    } finally {
      this.waiters.delete(id);
      // A gate inside a running step hands the outcome back to that step; a gate that is the
      // step itself ends it with the decision.
      step.status = stepStatus === 'running' || !waiter.decided ? stepStatus : DECIDED[waiter.decided.decision];
      if (step.status !== stepStatus) step.finishedAt = new Date().toISOString();
      this.state.pendingApprovals = this.state.pendingApprovals.filter((p) => p.step !== id);
      if (this.state.pendingApprovals.length === 0 && this.state.status === 'awaiting_approval') {
        this.setStatus(previous);
      }
      this.refresh();
    }
    if (!waiter.decided) this.record('approval_withdrawn', `${def.title}: no longer needed`, undefined, id);
    return waiter.decided;
  }

  /** Pages the next tier and says so in the timeline; answers who was reached and who not. */
  async escalate(reason: string, level: number): Promise<NotifyResult> {
    const sent = await notify.escalate({
      incidentId: this.state.incidentId,
      workflowId: this.workflowId,
      runbook: this.state.runbook,
      service: this.state.service,
      environment: this.state.environment,
      severity: this.state.severity,
      reason,
      level,
    });
    const failed = sent.failed.length ? `; FAILED: ${sent.failed.join('; ')}` : '';
    this.record('escalated', `${reason} → ${sent.delivered.join(', ') || 'nobody paged'}${failed}`, { level, ...sent });
    return sent;
  }

  mitigation(step: string, temporary: boolean): MitigationState {
    let m = this.state.mitigations.find((x) => x.step === step);
    if (!m) {
      m = { step, title: this.def(step).title, temporary, status: 'proposed' };
      this.state.mitigations.push(m);
    }
    return m;
  }

  /** Waits for the timeline to reach the incident store. */
  async flush(): Promise<void> {
    this.sync();
    await this.syncChain;
  }

  /** Flushes even while the workflow is being cancelled. */
  async flushNonCancellable(): Promise<void> {
    await CancellationScope.nonCancellable(() => this.flush());
  }

  /**
   * One store write at a time, carrying every event recorded meanwhile: the history gains one
   * activity per batch, not per event.
   */
  private sync(): void {
    this.due = true;
    if (this.syncing || this.unsynced.length === 0) return;
    this.syncing = true;
    this.syncChain = (async () => {
      // Another write only when one was asked for meanwhile (before the patch: whatever came).
      while (this.due && this.unsynced.length > 0) {
        this.due = !this.writesOnChange;
        this.lastWriteMs = Date.now();
        const events = this.unsynced;
        this.unsynced = [];
        const incident = this.storeSnapshot();
        // Outside the workflow's cancellation: a cancelled incident's record must still land.
        await CancellationScope.nonCancellable(() =>
          store.syncIncident.executeWithOptions({ summary: `record ${events.length} timeline events` }, [
            { incident, events },
          ]),
        );
      }
      this.syncing = false;
    })();
  }

  private storeSnapshot() {
    const info = workflowInfo();
    return {
      workflowId: info.workflowId,
      // The incident's first run: the runs it continued as new write one record.
      runId: info.firstExecutionRunId,
      runbook: this.state.runbook,
      status: this.state.status,
      severity: this.state.severity,
      service: this.state.service,
      environment: this.state.environment,
      startedAt: this.state.startedAt,
      diagnosis: this.state.diagnosis,
      resolution: this.state.resolution ?? null,
      steps: this.state.steps,
    };
  }

  private check(d: DecisionInput): void {
    const waiter = this.waiters.get(d.step);
    if (!this.defs.has(d.step)) {
      throw ApplicationFailure.create({ type: 'UnknownStep', message: `unknown step "${d.step}"`, nonRetryable: true });
    }
    if (!waiter || waiter.decided) {
      throw ApplicationFailure.create({
        type: 'NotPending',
        message: `step "${d.step}" is not waiting for a decision`,
      });
    }
    if (!waiter.pending.decisions.includes(d.decision)) {
      throw ApplicationFailure.create({
        type: 'NotPending',
        message: `step "${d.step}" takes ${waiter.pending.decisions.join(' or ')}, not ${d.decision}`,
      });
    }
    if (Object.keys(this.input.responders).length === 0) return;
    const roles = this.input.responders[d.by];
    if (!roles) throw ApplicationFailure.create({ type: 'Forbidden', message: `"${d.by}" is not a responder` });
    if (!waiter.pending.roles.some((r) => roles.includes(r))) {
      throw ApplicationFailure.create({
        type: 'Forbidden',
        message: `"${d.by}" lacks the role for "${d.step}" (needs ${waiter.pending.roles.join(' or ')})`,
      });
    }
  }

  /** Responders are configured: a decision must come through the gateway with a responder's token. */
  private closed(): boolean {
    return Object.keys(this.input.responders).length > 0;
  }

  /**
   * Authenticated only when the gateway says it checked a responder's token and the worker finds its
   * proof good. With responders configured nothing else decides; the refusal is recorded and says
   * how to decide instead. Incidents started before proofs took the gateway's word.
   */
  private async authenticate(d: DecisionInput): Promise<DecisionInput> {
    if (!this.closed()) return { ...d, authenticated: false };
    if (!patched('decision-proof')) return d;
    const { problem } = d.proof
      ? await proof.verifyDecision.executeWithOptions({ summary: `check ${d.by}'s decision` }, [
          { workflowId: workflowInfo().workflowId, decision: d },
        ])
      : { problem: 'no proof from the gateway' };
    if (problem) throw this.refuse(d, `not authenticated by the gateway (${problem})`);
    this.check(d);
    return { ...d, authenticated: true };
  }

  /** Records a refused decision with how to decide instead, and returns the refusal to throw. */
  private refuse(d: DecisionInput, why: string): ApplicationFailure {
    const message = `${why}: ${HOW_TO_DECIDE}`;
    const { proof: _, ...shown } = d;
    this.record('decision_refused', `${d.by} tried to ${d.decision} ${d.step}: ${message}`, shown);
    return ApplicationFailure.create({ type: 'Forbidden', message, nonRetryable: true });
  }

  private accept(input: DecisionInput): DecisionResult {
    const waiter = this.waiters.get(input.step);
    if (!waiter)
      throw ApplicationFailure.create({ type: 'NotPending', message: `step "${input.step}" is not pending` });
    // Authenticated only when the gateway says it checked a responder's token: never by default.
    const d: DecisionInput = { ...input, authenticated: input.authenticated === true };
    waiter.decided = d;
    const at = this.decided(d);
    const auth = d.authenticated ? '' : ' (unauthenticated)';
    this.record(
      'decision',
      `${d.by}${auth} chose ${d.decision} for ${d.step}${d.comment ? `: ${d.comment}` : ''}`,
      d,
      d.step,
    );
    return { step: d.step, decision: d.decision, by: d.by, acceptedAt: at };
  }

  /** The decision joins its step's record: who, what, when, the comment, authenticated or not. */
  private decided(d: DecisionInput): string {
    const at = new Date().toISOString();
    const entry: StepDecision = {
      decision: d.decision,
      by: d.by,
      at,
      authenticated: d.authenticated === true,
      ...(d.comment ? { comment: d.comment } : {}),
    };
    const step = this.stepState(d.step);
    step.decisions = [...(step.decisions ?? []), entry];
    return at;
  }

  private onAlert(alert: AlertEvent): void {
    const id = `${alert.key}|${alert.status}|${alert.startsAt}`;
    if (this.seenAlerts.has(id)) return;
    this.seenAlerts.add(id);
    const existing = this.state.alerts.findIndex((a) => a.key === alert.key);
    if (existing >= 0) this.state.alerts[existing] = alert;
    else this.state.alerts.push(alert);
    if (alert.status === 'firing') this.alertsFiring.add(alert.key);
    else this.alertsFiring.delete(alert.key);
    this.record(`alert_${alert.status}`, `${alert.alertname} ${alert.status}`, alert.labels);
  }

  private rolesFor(step: string): string[] {
    return this.input.stepRoles[step] ?? this.input.stepRoles.default ?? ['oncall'];
  }

  private def(id: string): StepDef {
    const def = this.defs.get(id);
    if (!def) throw new Error(`runbook has no step "${id}"`);
    return def;
  }

  private stepState(id: string) {
    this.def(id);
    const step = this.state.steps.find((s) => s.id === id);
    if (!step) throw new Error(`runbook has no step "${id}"`);
    return step;
  }

  /** Search attributes and the Web UI's current details follow the state. */
  private refresh(): void {
    const attributes = {
      status: this.state.status,
      severity: this.state.severity,
      awaiting: this.state.pendingApprovals.length > 0,
    };
    // Each upsert is a history event: only when something changed.
    const key = JSON.stringify(attributes);
    if (key !== this.upserted) {
      this.upserted = key;
      upsertSearchAttributes([
        { key: SA.status, value: attributes.status },
        { key: SA.severity, value: attributes.severity },
        { key: SA.awaitingApproval, value: attributes.awaiting },
      ]);
    }
    setCurrentDetails(renderChecklist(this.state));
  }
}

/** The step a decision ends, when the gate is the step itself (a manual step, a page). */
const DECIDED: Record<DecisionKind, StepStatus> = {
  approve: 'done',
  done: 'done',
  acknowledge: 'done',
  reject: 'skipped',
  skip: 'skipped',
  confirm: 'done',
  extend: 'pending',
  escalate: 'failed',
};

/** Only `done` is ticked: a skipped, unavailable or failed step says so in words. */
const MARK: Record<StepStatus, string> = {
  pending: '[ ]',
  running: '[ ] ▶ running',
  waiting: '[ ] ⏳ waiting',
  done: '[x]',
  skipped: '[ ] skipped:',
  unavailable: '[ ] ⚠ unavailable:',
  failed: '[ ] ✗ failed:',
};

/** Titles and notes are text, not Markdown: `OTEL_EXPORTER_OTLP_*` must not turn italic. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>#|]/g, (c) => `\\${c}`);
}

export function renderChecklist(state: IncidentState): string {
  const lines = [
    `**${state.runbook}** · ${state.service} · ${state.environment} · ${state.severity} · status **${state.status}**`,
  ];
  if (state.diagnosis) lines.push(`Diagnosis: **${state.diagnosis.primary}**`);
  for (const p of state.pendingApprovals) {
    // A blank line between them: each pending decision is a blockquote of its own.
    lines.push(
      '',
      `> Awaiting ${p.kind}: **${p.step}** (${p.decisions.join('/')}) by ${p.roles.join(' or ')}, deadline ${p.deadline}` +
        (p.escalations ? `, escalated ×${p.escalations}` : ''),
    );
  }
  let section = '';
  for (const s of state.steps) {
    if (s.section !== section) {
      section = s.section;
      lines.push('', `### ${section}`);
    }
    const late = s.overBudget ? ` ⏰ over its ${s.budget} budget` : '';
    lines.push(`- ${MARK[s.status]} ${escapeMarkdown(s.title)}${late}${s.note ? ` — ${escapeMarkdown(s.note)}` : ''}`);
    for (const d of s.decisions ?? []) lines.push(`  - ${escapeMarkdown(describeDecision(d))}`);
  }
  return lines.join('\n');
}
