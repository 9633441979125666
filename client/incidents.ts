// Starting, joining, deciding and reading incidents: the one place the gateway and the CLI
// talk to Temporal about runbooks.
import { createHash, randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure, TypedSearchAttributes } from '@temporalio/common';
import { signDecision } from '../activities/decision-proof';
import { runbookInput } from '../config/runbook-input';
import type { Config } from '../config/schema';
import {
  alertSignal,
  decideUpdate,
  incidentWorkflowId,
  RUNNABLE_RUNBOOKS,
  incidentSearchAttributes,
  SA,
  stateQuery,
  TASK_QUEUE,
  WORKFLOW_TYPES,
  type AlertEvent,
  type DecisionInput,
  type DecisionResult,
  type IncidentState,
  type RunbookId,
  type RunbookInput,
} from '../workflows/definitions';

const RPC_TIMEOUT_MS = 5_000;

export interface StartRequest {
  runbook: RunbookId;
  key?: string;
  service: string;
  environment: string;
  severity?: string;
  params?: Record<string, unknown>;
  alert?: AlertEvent;
  source: 'alertmanager' | 'manual';
  startedBy: string;
}

export interface StartResult {
  workflowId: string;
  runId?: string;
  runbook: RunbookId;
  outcome: 'started' | 'joined';
}

export type DecisionError =
  | { code: 404; reason: string }
  | { code: 403; reason: string }
  | { code: 409; reason: string }
  | { code: 503; reason: string };

export class DecisionRefused extends Error {
  constructor(
    readonly code: DecisionError['code'],
    reason: string,
  ) {
    super(reason);
  }
}

export class TemporalUnavailable extends Error {
  override name = 'TemporalUnavailable';
}

export interface IncidentSummary {
  workflowId: string;
  runbook: string;
  status: string;
  severity: string;
  service: string;
  environment: string;
  alertName: string;
  awaitingApproval: boolean;
  startTime: string;
  closeTime?: string;
  execution: string;
}

/** A stable key per incident: the Alertmanager group key and environment, hashed. */
export function incidentKey(groupKey: string, environment: string): string {
  return createHash('sha256').update(`${groupKey}\u0000${environment}`).digest('hex').slice(0, 16);
}

/** A signal's alerts stay well under Temporal's 2 MB payload limit, whatever the body carried. */
const SIGNAL_BYTES = 512 * 1024;

/**
 * The signals that tell an incident these alerts: one alert as itself, as it always was; several as
 * lists of at most SIGNAL_BYTES of JSON each (one list for any group of ordinary size).
 */
export function alertSignals(alerts: AlertEvent[]): (AlertEvent | AlertEvent[])[] {
  if (alerts.length === 1) return [alerts[0]];
  const lists: AlertEvent[][] = [];
  let bytes = Infinity;
  for (const alert of alerts) {
    const size = Buffer.byteLength(JSON.stringify(alert));
    if (bytes + size > SIGNAL_BYTES) {
      lists.push([]);
      bytes = 0;
    }
    lists[lists.length - 1].push(alert);
    bytes += size;
  }
  return lists;
}

function isUnavailable(err: unknown): boolean {
  const text = `${(err as Error)?.message ?? ''} ${(err as { cause?: Error })?.cause?.message ?? ''}`;
  return /UNAVAILABLE|ECONNREFUSED|DEADLINE_EXCEEDED|Failed to connect|connection/i.test(text);
}

export class Incidents {
  private constructor(
    private readonly client: Client,
    private readonly config: Config,
    private readonly taskQueue: string,
    private readonly signingKey?: string,
  ) {}

  /**
   * `signingKey` (DECISION_SIGNING_KEY): the gateway's, to prove the decisions whose responder token
   * it checked (`authenticated: true`). Without it no decision is authenticated.
   */
  static create(client: Client, config: Config, taskQueue = TASK_QUEUE, signingKey?: string): Incidents {
    return new Incidents(client, config, taskQueue, signingKey);
  }

  buildInput(req: StartRequest, key: string, routeParams: Record<string, unknown> = {}): RunbookInput {
    return runbookInput(this.config, req, key, routeParams);
  }

  /**
   * Starts the runbook, or joins the open incident with the same id by signalling the alert to it.
   * `more`: other alerts of the same incident, told in the same signal (or one signal after the start).
   */
  async start(
    req: StartRequest,
    routeParams: Record<string, unknown> = {},
    more: AlertEvent[] = [],
  ): Promise<StartResult> {
    if (!RUNNABLE_RUNBOOKS.includes(req.runbook))
      throw new Error(`runbook "${req.runbook}" is known but not built yet`);
    const key = req.key ?? randomUUID();
    const workflowId = incidentWorkflowId(req.runbook, key);
    const input = this.buildInput(req, key, routeParams);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const handle = await this.rpc(() =>
            this.client.workflow.start(WORKFLOW_TYPES[req.runbook]!, {
              taskQueue: this.taskQueue,
              workflowId,
              args: [input],
              workflowIdConflictPolicy: 'FAIL',
              workflowIdReusePolicy: 'ALLOW_DUPLICATE',
              staticSummary: `${req.runbook} · ${req.service}/${req.environment} · ${req.alert?.alertname ?? `started by ${req.startedBy}`}`,
              staticDetails: `Runbook ${req.runbook} for ${req.service} in ${req.environment}, severity ${input.severity}.`,
              typedSearchAttributes: new TypedSearchAttributes(incidentSearchAttributes(input)),
            }),
          );
          for (const signal of alertSignals(more)) await this.rpc(() => handle.signal(alertSignal, signal));
          return { workflowId, runId: handle.firstExecutionRunId, runbook: req.runbook, outcome: 'started' };
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
        const alerts = [...(req.alert ? [req.alert] : []), ...more];
        if (!alerts.length) return { workflowId, runbook: req.runbook, outcome: 'joined' };
        try {
          await this.tell(workflowId, alerts);
          return { workflowId, runbook: req.runbook, outcome: 'joined' };
        } catch (err) {
          // It closed between the start and the signal: start a new incident.
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      throw new Error(`could not start or join ${workflowId}`);
    } catch (err) {
      if (isUnavailable(err)) throw new TemporalUnavailable(`Temporal unreachable: ${(err as Error).message}`);
      throw err;
    }
  }

  /** Resolved alerts go to their open incident, in one signal; with none open they start nothing. */
  async resolve(runbook: RunbookId, key: string, alerts: AlertEvent[]): Promise<string | undefined> {
    const workflowId = incidentWorkflowId(runbook, key);
    try {
      await this.tell(workflowId, alerts);
      return workflowId;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      if (isUnavailable(err)) throw new TemporalUnavailable(`Temporal unreachable: ${(err as Error).message}`);
      throw err;
    }
  }

  async decide(workflowId: string, input: DecisionInput, timeoutMs = 10_000): Promise<DecisionResult> {
    const handle = this.client.workflow.getHandle(workflowId);
    const { proof: _, ...claim } = input;
    const decision: DecisionInput =
      claim.authenticated && this.signingKey
        ? { ...claim, proof: signDecision(this.signingKey, workflowId, claim) }
        : { ...claim, authenticated: false };
    try {
      return await this.client.withDeadline(Date.now() + timeoutMs, () =>
        handle.executeUpdate(decideUpdate, { args: [decision] }),
      );
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
        const reason = cause?.message ?? err.message;
        if (cause?.type === 'Forbidden') throw new DecisionRefused(403, reason);
        throw new DecisionRefused(409, reason);
      }
      if (err instanceof WorkflowNotFoundError || /not found|already completed/i.test((err as Error).message)) {
        const closed = await this.closedStatus(workflowId);
        if (closed)
          throw new DecisionRefused(409, `incident ${workflowId} is finished (${closed}): nothing is pending`);
        throw new DecisionRefused(404, `no incident ${workflowId}`);
      }
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || /deadline/i.test((err as Error).message)) {
        throw new DecisionRefused(
          503,
          `no worker answered within ${timeoutMs} ms; the decision may still apply once a worker picks it up: check the incident before deciding again`,
        );
      }
      if (isUnavailable(err)) throw new DecisionRefused(503, `Temporal unreachable: ${(err as Error).message}`);
      throw err;
    }
  }

  async state(workflowId: string): Promise<IncidentState> {
    return this.client.workflow.getHandle(workflowId).query(stateQuery);
  }

  async list(opts: { open?: boolean; limit?: number } = {}): Promise<IncidentSummary[]> {
    const query = `WorkflowId STARTS_WITH "incident/"${opts.open ? ` AND ExecutionStatus = "Running"` : ''}`;
    const out: IncidentSummary[] = [];
    for await (const wf of this.client.workflow.list({ query })) {
      const sa = wf.typedSearchAttributes;
      out.push({
        workflowId: wf.workflowId,
        runbook: sa.get(SA.runbookId) ?? '',
        status: sa.get(SA.status) ?? '',
        severity: sa.get(SA.severity) ?? '',
        service: sa.get(SA.service) ?? '',
        environment: sa.get(SA.environment) ?? '',
        alertName: sa.get(SA.alertName) ?? '',
        awaitingApproval: sa.get(SA.awaitingApproval) ?? false,
        startTime: wf.startTime.toISOString(),
        closeTime: wf.closeTime?.toISOString(),
        execution: wf.status.name,
      });
      if (out.length >= (opts.limit ?? 200)) break;
    }
    return out;
  }

  private async tell(workflowId: string, alerts: AlertEvent[]): Promise<void> {
    const handle = this.client.workflow.getHandle(workflowId);
    for (const signal of alertSignals(alerts)) await this.rpc(() => handle.signal(alertSignal, signal));
  }

  /** Starts and signals get a deadline, so an unreachable Temporal is a prompt 503, not a hang. */
  private rpc<T>(fn: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + RPC_TIMEOUT_MS, fn);
  }

  /** When the open run of this incident started; undefined when none is open. */
  async openSince(workflowId: string): Promise<Date | undefined> {
    try {
      const d = await this.rpc(() => this.client.workflow.getHandle(workflowId).describe());
      return d.status.name === 'RUNNING' ? d.startTime : undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      if (isUnavailable(err)) throw new TemporalUnavailable(`Temporal unreachable: ${(err as Error).message}`);
      throw err;
    }
  }

  private async closedStatus(workflowId: string): Promise<string | undefined> {
    try {
      const d = await this.client.workflow.getHandle(workflowId).describe();
      return d.status.name === 'RUNNING' ? undefined : d.status.name;
    } catch {
      return undefined;
    }
  }
}
