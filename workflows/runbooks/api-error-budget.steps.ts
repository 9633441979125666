// The document's steps, in its order: the checklist, the known steps for decisions, and the docs.
import type { StepDef } from '../toolkit/runbook';

const IMMEDIATE = '1. Immediate Actions';
const DIAGNOSTICS = '2. Diagnostics';
export const MITIGATION = '3. Mitigation Steps';
const VALIDATION = '4. Validation';
const POST_INCIDENT = '5. Post-Incident Tasks';

export const API_ERROR_BUDGET_STEPS: StepDef[] = [
  { id: 'acknowledge', section: IMMEDIATE, kind: 'manual', title: 'Acknowledge alert in Slack #oncall' },
  {
    id: 'capture-start',
    section: IMMEDIATE,
    kind: 'auto',
    title: 'Capture the incident start time and affected environment',
  },
  {
    id: 'pause-deploys',
    section: IMMEDIATE,
    kind: 'auto',
    title: 'Pause automated deploys if within the release window',
  },
  { id: 'dashboard-review', section: DIAGNOSTICS, kind: 'auto', title: 'Dashboard review: routes with elevated 5xx' },
  {
    id: 'trace-inspection',
    section: DIAGNOSTICS,
    kind: 'auto',
    title: 'Trace inspection: exception types and stacks on those routes',
  },
  {
    id: 'error-logs',
    section: DIAGNOSTICS,
    kind: 'auto',
    title: 'Error logs: matching request ids, tenant and feature-flag correlation',
  },
  {
    id: 'dependency-check',
    section: DIAGNOSTICS,
    kind: 'auto',
    title: 'Dependency check: Redis/Postgres health, downstream status',
  },
  {
    id: 'recent-changes',
    section: DIAGNOSTICS,
    kind: 'auto',
    title: 'Recent changes: deployments or configuration within the past hour',
  },
  { id: 'diagnosis', section: DIAGNOSTICS, kind: 'auto', title: 'Diagnosis' },
  {
    id: 'rollback-deploy',
    section: MITIGATION,
    kind: 'approval',
    title: 'Regression from deployment: roll back to the previous stable release',
  },
  {
    id: 'restore-secret',
    section: MITIGATION,
    kind: 'approval',
    title:
      'Configuration or secret drift: restore last known-good secret version, validate OTEL_EXPORTER_OTLP_* endpoints',
  },
  {
    id: 'degraded-mode',
    section: MITIGATION,
    kind: 'approval',
    title: 'Third-party outage: activate degraded mode flag, tell customer success',
  },
  { id: 'migration-rollback', section: MITIGATION, kind: 'approval', title: 'Database errors: run migration rollback' },
  {
    id: 'replica-failover',
    section: MITIGATION,
    kind: 'approval',
    title: 'Database errors: fail over read-heavy workloads to the read replica',
  },
  {
    id: 'raise-concurrency',
    section: MITIGATION,
    kind: 'approval',
    title: 'Rate limiting: raise concurrency limits temporarily',
  },
  {
    id: 'circuit-breaker-queue',
    section: MITIGATION,
    kind: 'approval',
    title: 'Rate limiting: queue requests using circuit-breaker config',
  },
  {
    id: 'manual-mitigation',
    section: MITIGATION,
    kind: 'manual',
    title: 'No mitigation left: responders mitigate by hand',
  },
  {
    id: 'validate-error-ratio',
    section: VALIDATION,
    kind: 'auto',
    title: 'Ensure 5xx error ratio drops below 0.2% over the next 15 minutes',
  },
  { id: 'validate-logs', section: VALIDATION, kind: 'auto', title: 'Confirm no new error spikes in logs' },
  {
    id: 'remove-temporary-mitigations',
    section: VALIDATION,
    kind: 'auto',
    title: 'Remove any temporary mitigations once stability confirmed',
  },
  {
    id: 'document',
    section: POST_INCIDENT,
    kind: 'auto',
    title: 'Document root cause, impact, and resolution in incident tracker',
  },
  {
    id: 'regression-tests',
    section: POST_INCIDENT,
    kind: 'auto',
    title: 'Add regression/unit tests that reproduce the failure scenario',
  },
  {
    id: 'design-review',
    section: POST_INCIDENT,
    kind: 'auto',
    title: 'Schedule design review if systemic issue exposed',
  },
];
