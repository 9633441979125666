// The Cost Spike document's steps, in its order: the checklist, the known steps for decisions, and the docs.
import type { StepDef } from '../toolkit/runbook';

const STEP1 = 'Step 1: Confirm the Spike (5 min)';
const STEP2 = 'Step 2: Rule Out Traffic Increase (5 min)';
const STEP3 = 'Step 3: Check Hidden Recompute (10 min)';
const STEP4 = 'Step 4: Check Token Usage (10 min)';
const STEP5 = 'Step 5: Check Feature Attribution (10 min)';
const STEP6 = 'Step 6: Check Tool Call Failures (5 min)';
export const MITIGATION = 'Step 7: Immediate Mitigation';
const VALIDATION = 'Validation';
const STEP8 = 'Step 8: Document and Monitor';
const ESCALATION = 'Escalation';

export const COST_SPIKE_STEPS: StepDef[] = [
  {
    id: 'confirm-spike',
    section: STEP1,
    kind: 'auto',
    title: 'Hourly cost over 48 h against the baseline: sustained (not a 1-hour blip), start time identified',
  },
  {
    id: 'rule-out-traffic',
    section: STEP2,
    kind: 'auto',
    title: 'Requests, unique users and cost per request per hour; bot traffic by user agent',
  },
  {
    id: 'campaign-check',
    section: STEP2,
    kind: 'manual',
    title: 'Traffic spiked: is there a marketing campaign or viral content? Any attack in the rate-limit logs?',
  },
  {
    id: 'hidden-recompute',
    section: STEP3,
    kind: 'auto',
    title: 'Count and cost by trigger_type; daily hidden recompute ratio (undo, retry, auto_save) over 7 days',
  },
  {
    id: 'token-usage',
    section: STEP4,
    kind: 'auto',
    title: 'Average and p95 input/output tokens per hour, and the models that served them',
  },
  {
    id: 'feature-attribution',
    section: STEP5,
    kind: 'auto',
    title: 'Daily cost and cost per request by feature over 7 days',
  },
  {
    id: 'tool-failures',
    section: STEP6,
    kind: 'auto',
    title: 'Failures, failure rate and average retries per tool over 48 h',
  },
  {
    id: 'diagnosis',
    section: MITIGATION,
    kind: 'auto',
    title: 'Diagnosis: causes ranked by the extra cost they explain',
  },
  {
    id: 'reduce-auto-save',
    section: MITIGATION,
    kind: 'approval',
    title: 'Hidden recompute: reduce auto-save frequency (AUTO_SAVE_INTERVAL_MS 30000, was 5000)',
  },
  {
    id: 'rate-limit-undo',
    section: MITIGATION,
    kind: 'approval',
    title: 'Hidden recompute: rate limit undo (3/minute)',
  },
  {
    id: 'cap-context',
    section: MITIGATION,
    kind: 'approval',
    title: 'Context bloat: truncate context to the last 10 messages',
  },
  {
    id: 'reduce-tool-retries',
    section: MITIGATION,
    kind: 'approval',
    title: 'Tool retries: reduce max retries (MAX_TOOL_RETRIES 2, was 5)',
  },
  {
    id: 'circuit-breaker',
    section: MITIGATION,
    kind: 'approval',
    title: 'Tool retries: circuit breaker (failure threshold 3, recovery 60 s)',
  },
  {
    id: 'throttle-feature',
    section: MITIGATION,
    kind: 'approval',
    title: 'Specific feature: throttle it per user (10/hour)',
  },
  {
    id: 'rate-limit-traffic',
    section: MITIGATION,
    kind: 'approval',
    title: 'Traffic or bots: rate limit the traffic',
  },
  {
    id: 'rollback-model-or-cap-output',
    section: MITIGATION,
    kind: 'approval',
    title: 'Rising output tokens: roll back the model or prompt change, constrain output',
  },
  {
    id: 'manual-mitigation',
    section: MITIGATION,
    kind: 'manual',
    title: 'No mitigation left: responders mitigate by hand',
  },
  {
    id: 'validate-cost',
    section: VALIDATION,
    kind: 'auto',
    title: 'Cost per hour back within 20% of baseline for 1 hour',
  },
  {
    id: 'remove-temporary-mitigations',
    section: VALIDATION,
    kind: 'auto',
    title: 'Remove temporary mitigations once cost is back to baseline',
  },
  {
    id: 'record-root-cause',
    section: STEP8,
    kind: 'auto',
    title: 'Record root cause and mitigation in the incident log',
  },
  { id: 'alert-rule', section: STEP8, kind: 'auto', title: 'Set up alert for this condition (rule suggested)' },
  { id: 'schedule-follow-up', section: STEP8, kind: 'auto', title: 'Schedule follow-up to verify fix' },
  {
    id: 'enable-cost-cap',
    section: ESCALATION,
    kind: 'approval',
    title: 'Immediate: enable cost cap if not already (last hour above $1000)',
  },
  {
    id: 'alert-leadership',
    section: ESCALATION,
    kind: 'auto',
    title: 'Within 1 hour: alert engineering leadership',
  },
  {
    id: 'disable-feature',
    section: ESCALATION,
    kind: 'approval',
    title: 'If critical: temporary feature disable',
  },
];
