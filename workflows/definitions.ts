// Names and shapes shared by workflows, the worker, the gateway and the CLI.
// Everything here is part of the contract in DESIGN.md: renaming is a breaking change.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { RunbookDocument } from '../catalogue/document';
import type { ActionSpec } from '../config/action-plan';

export const TASK_QUEUE = 'runbooks';

export const RUNBOOK_IDS = [
  'api-error-budget',
  'llm-provider-incident',
  'cost-spike',
  'service-down',
  'high-cost-alerts',
  'performance-issues',
  'security-incidents',
  'database-maintenance',
  'log-management',
  'backup-recovery',
  'certificate-management',
  'common-issues',
  'integration-problems',
  'configuration-errors',
] as const;
export type RunbookId = (typeof RUNBOOK_IDS)[number];

/** The index's runbooks: each runs its document (catalogue/runbooks/<id>.md) as a guided runbook. */
export const CATALOGUE_RUNBOOKS = RUNBOOK_IDS.filter(
  (id) => !['api-error-budget', 'llm-provider-incident', 'cost-spike'].includes(id),
);

/** Catalogue runbooks whose document's automated checks also run as scheduled maintenance. */
export const MAINTENANCE_RUNBOOKS = [
  'database-maintenance',
  'log-management',
  'backup-recovery',
  'certificate-management',
] as const satisfies readonly RunbookId[];
export type MaintenanceRunbook = (typeof MAINTENANCE_RUNBOOKS)[number];

/** Workflow type per runbook this build can run. */
export const WORKFLOW_TYPES: Partial<Record<RunbookId, string>> = {
  'api-error-budget': 'apiErrorBudget',
  'cost-spike': 'costSpike',
  'llm-provider-incident': 'llmProviderIncident',
  ...Object.fromEntries(CATALOGUE_RUNBOOKS.map((id) => [id, 'guidedRunbook'])),
};
export const RUNNABLE_RUNBOOKS = Object.keys(WORKFLOW_TYPES) as RunbookId[];

export function incidentWorkflowId(runbook: RunbookId, key: string): string {
  return `incident/${runbook}/${key}`;
}

export const INCIDENT_STATUSES = [
  'triage',
  'diagnosing',
  'awaiting_approval',
  'mitigating',
  'validating',
  'follow_up',
  'resolved',
  'unresolved',
  'escalated',
  'failed',
  'cancelled',
] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/**
 * approve/reject at an approval gate, done/skip at a manual step, acknowledge for a page, and
 * confirm/extend/escalate for a validation window that had too little data to judge.
 */
export const DECISIONS = ['approve', 'reject', 'done', 'skip', 'acknowledge', 'confirm', 'extend', 'escalate'] as const;
export type DecisionKind = (typeof DECISIONS)[number];

export interface DecisionInput {
  step: string;
  decision: DecisionKind;
  by: string;
  comment?: string;
  /** Claimed by the gateway after it checked a responder's token; believed only with a valid `proof`. */
  authenticated?: boolean;
  /** The gateway's HMAC over the decision (activities/decision-proof.ts). */
  proof?: DecisionProof;
}

export interface DecisionProof {
  /** When the gateway signed it (ISO 8601). */
  at: string;
  /** HMAC-SHA256, hex. */
  mac: string;
}

export interface DecisionResult {
  step: string;
  decision: DecisionKind;
  by: string;
  acceptedAt: string;
}

export interface AlertEvent {
  /** Stable key of the alert: its fingerprint, or a hash of its labels. */
  key: string;
  status: 'firing' | 'resolved';
  alertname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

export type StepKind = 'auto' | 'approval' | 'manual';
/**
 * A step's outcome. Only `done` means the step did what it says, with data to show for it;
 * `unavailable` is a step whose source could not be read (not configured, unreachable, an error).
 */
export type StepStatus = 'pending' | 'running' | 'waiting' | 'done' | 'skipped' | 'unavailable' | 'failed';

/** A responder's decision on a step, as the record shows it. */
export interface StepDecision {
  decision: DecisionKind;
  by: string;
  at: string;
  comment?: string;
  /** True only when the gateway authenticated the decider (a responder token). */
  authenticated: boolean;
}

/** One line per decision, the same in the CLI, the Web UI and the docs. */
export function describeDecision(d: StepDecision): string {
  return `${d.by}${d.authenticated ? '' : ' (unauthenticated)'} ${d.decision} at ${d.at}${d.comment ? `: "${d.comment}"` : ''}`;
}

export interface StepState {
  id: string;
  title: string;
  section: string;
  kind: StepKind;
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  note?: string;
  /** The time the document gives the step ("5 min"), when it gives one. */
  budget?: string;
  /** Set once the step ran past its budget. */
  overBudget?: boolean;
  /** Who decided what on this step, in order. */
  decisions?: StepDecision[];
}

export interface PendingApproval {
  step: string;
  title: string;
  kind: 'approval' | 'manual';
  decisions: DecisionKind[];
  roles: string[];
  requestedAt: string;
  deadline: string;
  escalations: number;
  detail?: string;
}

export interface Finding {
  step: string;
  summary: string;
  level: 'info' | 'warning' | 'critical' | 'unavailable';
  evidence: unknown;
}

export interface Cause {
  cause: string;
  score: number;
  evidence: string[];
  mitigation: string;
  /** What the cause's mitigation acts on (`{feature}`, `{route}`, `{version}`...): filled into its action. */
  vars?: Record<string, string>;
}

export interface Diagnosis {
  primary: string;
  causes: Cause[];
  /** The sources the diagnosis read, and those it could not read with the reason. */
  sources?: { read: string[]; unread: { source: string; reason: string }[] };
}

export interface MitigationState {
  step: string;
  title: string;
  temporary: boolean;
  status: 'proposed' | 'approved' | 'rejected' | 'applied' | 'failed' | 'outcome_unknown' | 'undone';
  detail?: string;
}

export interface IncidentState {
  runbook: RunbookId;
  incidentId: string;
  severity: string;
  status: IncidentStatus;
  service: string;
  environment: string;
  startedAt: string;
  params: Record<string, unknown>;
  steps: StepState[];
  findings: Finding[];
  diagnosis: Diagnosis | null;
  pendingApprovals: PendingApproval[];
  mitigations: MitigationState[];
  alerts: AlertEvent[];
  timelineSize: number;
  resolution?: string;
}

/** What the gateway or CLI resolves from config before starting a runbook. */
export interface RunbookInput<P = Record<string, unknown>> {
  runbook: RunbookId;
  incidentKey: string;
  service: string;
  environment: string;
  severity: string;
  /** `probe`: the synthetic provider probe; `maintenance`: a failing maintenance pass; `drill`: a drill. */
  source: 'alertmanager' | 'manual' | 'probe' | 'maintenance' | 'drill';
  startedBy: string;
  params: P;
  /** Roles allowed to decide each step; `default` covers steps not named. */
  stepRoles: Record<string, string[]>;
  /** Responder name to roles; empty means open access (the embedded default). */
  responders: Record<string, string[]>;
  /** Mitigation steps the approval policy lets run without a human. */
  preApproved: string[];
  /** Config `approvals.trustTemporalSignals`: signal decisions act, authenticated by Temporal. */
  trustTemporalSignals?: boolean;
  /**
   * What each step's configured action does (config `actions`), so an approval shows what will run
   * and a step with nothing configured asks once, to do it by hand. Absent in incidents started
   * before it was carried: they ask as they did.
   */
  actions?: Record<string, ActionSpec>;
  alert?: AlertEvent;
  /**
   * A catalogue runbook's document, parsed: carried only by incidents started before the worker
   * read its own by runbook id (patch `guided-document-by-id`). New incidents have none, and
   * nothing here is run by them.
   */
  document?: RunbookDocument;
  /** Set when the run is a drill: nothing is changed, nobody is notified, gates answer themselves. */
  drill?: DrillContext;
}

/** What a drill's synthetic incident points the runbook's reads at. */
export interface DrillContext {
  scenario: string;
  /** A scratch database holding the scenario's telemetry (drill_*), read instead of the app's. */
  telemetryDatabase?: string;
  /** A local endpoint answering the Messages API the way the scenario's provider fails. */
  providerBaseUrl?: string;
  /**
   * A local endpoint in the worker answering Prometheus' HTTP API with the scenario's 5xx ratio,
   * read instead of the configured Prometheus (the worker reads only drill endpoints it started).
   */
  prometheusUrl?: string;
}

/** Workflow ids of drills' runbooks start with this; activities refuse to change anything for them. */
export const DRILL_PREFIX = 'drill/';

export interface RunbookResult {
  status: IncidentStatus;
  diagnosis: Diagnosis | null;
  resolution: string;
  /** In a drill: the mitigation the runbook reached (and did not run). */
  drillMitigation?: string;
}

export const stateQuery = defineQuery<IncidentState>('state');
export const decideUpdate = defineUpdate<DecisionResult, [DecisionInput]>('decide');
export const decisionSignal = defineSignal<[DecisionInput]>('decision');
/** An alert fired again or resolved; several alerts of the incident's group come as one list. */
export const alertSignal = defineSignal<[AlertEvent | AlertEvent[]]>('alert');

export const SA = {
  runbookId: defineSearchAttributeKey('RunbookId', SearchAttributeType.KEYWORD),
  severity: defineSearchAttributeKey('IncidentSeverity', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('IncidentStatus', SearchAttributeType.KEYWORD),
  alertName: defineSearchAttributeKey('AlertName', SearchAttributeType.KEYWORD),
  service: defineSearchAttributeKey('Service', SearchAttributeType.KEYWORD),
  environment: defineSearchAttributeKey('Environment', SearchAttributeType.KEYWORD),
  awaitingApproval: defineSearchAttributeKey('AwaitingApproval', SearchAttributeType.BOOL),
} as const;
export const SEARCH_ATTRIBUTES = Object.values(SA);

/** The search attributes an incident starts with, however it is started (gateway, CLI, probe, a parent runbook). */
export function incidentSearchAttributes(input: RunbookInput) {
  return [
    { key: SA.runbookId, value: input.runbook },
    { key: SA.severity, value: input.severity },
    { key: SA.status, value: 'triage' },
    { key: SA.alertName, value: input.alert?.alertname ?? 'manual' },
    { key: SA.service, value: input.service },
    { key: SA.environment, value: input.environment },
    { key: SA.awaitingApproval, value: false },
  ];
}
