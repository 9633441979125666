// The Anthropic API incident document's steps, in its order.
import type { StepDef } from '../toolkit/runbook';

const SEVERITY = 'Severity Classification';
const TRIAGE = 'Immediate Triage (First 5 Minutes)';
export const DECISION_TREE = 'Decision Tree';
export const MITIGATION = 'Mitigation Actions';
const KEY = 'Key Compromise';
const RECOVERY = 'Recovery';
const POSTMORTEM = 'Postmortem';

export const LLM_PROVIDER_STEPS: StepDef[] = [
  {
    id: 'classify-severity',
    section: SEVERITY,
    kind: 'auto',
    title: 'Classify: P1 500/529 for all requests, P2 429 or p99 > 10s, P3 intermittent < 5%, P4 degraded quality',
  },
  { id: 'acknowledge', section: SEVERITY, kind: 'manual', title: 'Acknowledge within the response time' },
  { id: 'status-page', section: TRIAGE, kind: 'auto', title: 'Check the Anthropic status page' },
  {
    id: 'connectivity-test',
    section: TRIAGE,
    kind: 'auto',
    title: 'Test API connectivity (status, latency, request id)',
  },
  {
    id: 'rate-limit-headers',
    section: TRIAGE,
    kind: 'auto',
    title: 'Check rate limit headers (ratelimit, retry-after, request-id)',
  },
  { id: 'diagnosis', section: DECISION_TREE, kind: 'auto', title: 'API returning errors? Follow the decision tree' },
  {
    id: 'key-issue',
    section: DECISION_TREE,
    kind: 'manual',
    title: '401/403 → key issue: check ANTHROPIC_API_KEY is set and valid (active keys in the Console)',
  },
  {
    id: 'misconfigured-request',
    section: DECISION_TREE,
    kind: 'manual',
    title: '400/404 → misconfigured request: fix the model id or the endpoint (ANTHROPIC_BASE_URL)',
  },
  {
    id: 'rate-limit-wait',
    section: DECISION_TREE,
    kind: 'auto',
    title: '429 → rate limited: check headers, reduce traffic, wait for retry-after',
  },
  {
    id: 'server-error-retry',
    section: DECISION_TREE,
    kind: 'auto',
    title: '500 → server error: check status.anthropic.com, retry with backoff',
  },
  {
    id: 'overloaded-retry',
    section: DECISION_TREE,
    kind: 'auto',
    title: '529 → overloaded: temporary, retry after 30-60s',
  },
  {
    id: 'timeout-check',
    section: DECISION_TREE,
    kind: 'auto',
    title: 'Timeouts → network or long generation: increase timeout, check max_tokens',
  },
  { id: 'provider-circuit-breaker', section: MITIGATION, kind: 'approval', title: 'Enable circuit breaker' },
  { id: 'queue-non-critical', section: MITIGATION, kind: 'approval', title: 'Queue non-critical requests' },
  { id: 'message-batches', section: MITIGATION, kind: 'approval', title: 'Switch to Message Batches for bulk work' },
  {
    id: 'reduce-max-tokens',
    section: MITIGATION,
    kind: 'approval',
    title: 'Reduce max_tokens to shorten generation time',
  },
  {
    id: 'fallback-mode',
    section: MITIGATION,
    kind: 'approval',
    title: 'Graceful degradation: answer with the fallback message while the API is out',
  },
  { id: 'smaller-model', section: MITIGATION, kind: 'approval', title: 'Slow responses: use a smaller model (Haiku)' },
  {
    id: 'manual-mitigation',
    section: MITIGATION,
    kind: 'manual',
    title: 'No mitigation left: responders mitigate by hand',
  },
  { id: 'revoke-key', section: KEY, kind: 'approval', title: 'Immediately revoke the key' },
  { id: 'rotate-key', section: KEY, kind: 'approval', title: 'Generate a new key and deploy it to all environments' },
  { id: 'audit-usage', section: KEY, kind: 'auto', title: 'Audit recent usage for unauthorized calls' },
  { id: 'incident-report', section: KEY, kind: 'auto', title: 'File incident report' },
  { id: 'recovery-check', section: RECOVERY, kind: 'auto', title: 'Probes healthy over the recovery window' },
  {
    id: 'remove-mitigations',
    section: RECOVERY,
    kind: 'auto',
    title: 'Undo the mitigations once the API has recovered',
  },
  {
    id: 'postmortem',
    section: POSTMORTEM,
    kind: 'auto',
    title: 'Postmortem: duration, severity, impact, root cause, detection, mitigation, request ids, action items',
  },
];
