// `runbook docs`: each runbook rendered in the catalogue's template (Overview, Symptoms,
// Immediate Actions, Investigation Steps, Resolution Steps, Prevention, Escalation) from the
// step definitions that run, so the documentation cannot drift from the code.
import { readFileSync } from 'node:fs';
import { documentPath, hasDocument } from '../../catalogue/load';
import { RUNBOOK_IDS, type RunbookId } from '../../workflows/definitions';
import { API_ERROR_BUDGET_STEPS } from '../../workflows/runbooks/api-error-budget.steps';
import { API_ERROR_BUDGET_DEFAULTS } from '../../workflows/runbooks/api-error-budget.params';
import { COST_SPIKE_STEPS } from '../../workflows/runbooks/cost-spike.steps';
import { COST_SPIKE_DEFAULTS } from '../../workflows/runbooks/cost-spike.params';
import { LLM_PROVIDER_STEPS } from '../../workflows/runbooks/llm-provider-incident.steps';
import { LLM_PROVIDER_DEFAULTS } from '../../workflows/runbooks/llm-provider-incident.params';
import type { StepDef } from '../../workflows/toolkit/runbook';

interface DocSource {
  overview: string;
  symptoms: string[];
  steps: StepDef[];
  /** Document section → template section. */
  sections: Record<string, 'Immediate Actions' | 'Investigation Steps' | 'Resolution Steps' | 'Prevention'>;
  params: object;
  escalation: string[];
}

const SOURCES: Partial<Record<RunbookId, DocSource>> = {
  'api-error-budget': {
    overview:
      'API Error Budget Runbook. Related alert: API Error Rate (5xx > 1%). Diagnoses the cause, mitigates with approval, validates for 15 minutes.',
    symptoms: ['5xx error ratio above 1% on one or more routes (alerts routed by `alertname=~".*(ErrorRate|5xx).*"`)'],
    steps: API_ERROR_BUDGET_STEPS,
    sections: {
      '1. Immediate Actions': 'Immediate Actions',
      '2. Diagnostics': 'Investigation Steps',
      '3. Mitigation Steps': 'Resolution Steps',
      '4. Validation': 'Resolution Steps',
      '5. Post-Incident Tasks': 'Prevention',
    },
    params: API_ERROR_BUDGET_DEFAULTS,
    escalation: [
      'An approval not decided within `approvalDeadline` pages the next tier in `escalation` (PagerDuty, Slack) and keeps waiting.',
      'A validation that fails pages the next tier and offers the next mitigation; with none left, responders mitigate by hand (`manual-mitigation`).',
    ],
  },
  'cost-spike': {
    overview:
      'Cost Spike Runbook. Use when inference costs have spiked unexpectedly (>20% above baseline). Confirms the spike in the LLM telemetry, ranks the causes by the extra cost they explain, mitigates with approval through feature_flags, validates the cost per hour for 1 hour.',
    symptoms: [
      'Hourly inference cost more than 20% above the same hours of the previous 7 days (alerts routed by `alertname=~".*(Cost|Spend|Budget)Spike.*|InferenceCost.*"`)',
    ],
    steps: COST_SPIKE_STEPS,
    sections: {
      'Step 1: Confirm the Spike (5 min)': 'Investigation Steps',
      'Step 2: Rule Out Traffic Increase (5 min)': 'Investigation Steps',
      'Step 3: Check Hidden Recompute (10 min)': 'Investigation Steps',
      'Step 4: Check Token Usage (10 min)': 'Investigation Steps',
      'Step 5: Check Feature Attribution (10 min)': 'Investigation Steps',
      'Step 6: Check Tool Call Failures (5 min)': 'Investigation Steps',
      'Step 7: Immediate Mitigation': 'Resolution Steps',
      Validation: 'Resolution Steps',
      Escalation: 'Resolution Steps',
      'Step 8: Document and Monitor': 'Prevention',
    },
    params: COST_SPIKE_DEFAULTS,
    escalation: [
      'If costs are still rising after mitigation: the cost cap (`enable-cost-cap`, with approval) at once, engineering leadership (`leadershipTarget`) once the cap is decided and within `leadershipAlertWithin`, and when critical a temporary feature disable (`disable-feature`, with approval).',
      'A step past its budget (5 or 10 minutes, `stepBudgets`) is flagged in the timeline and the checklist.',
      'An approval not decided within `approvalDeadline` pages the next tier in `escalation` and keeps waiting.',
    ],
  },
  'llm-provider-incident': {
    overview:
      'Anthropic API Incident Response: outages, degradation and rate limiting of the Claude API. Classifies P1-P4 with their response times, triages through the status page and test requests, follows the decision tree, mitigates with approval, handles key compromise, writes the postmortem.',
    symptoms: [
      'Provider errors or latency in the app (alerts routed by `alertname=~".*(Anthropic|LLMProvider|Provider).*"`)',
      'The synthetic probe (a Temporal Schedule, `runbook probe status`) fails the connectivity test',
      'A leaked or compromised API key (`alertname=~".*Key(Compromise|Leak).*"`, or `--param keyCompromise=true`)',
    ],
    steps: LLM_PROVIDER_STEPS,
    sections: {
      'Severity Classification': 'Immediate Actions',
      'Immediate Triage (First 5 Minutes)': 'Immediate Actions',
      'Decision Tree': 'Investigation Steps',
      'Mitigation Actions': 'Resolution Steps',
      'Key Compromise': 'Resolution Steps',
      Recovery: 'Resolution Steps',
      Postmortem: 'Prevention',
    },
    params: LLM_PROVIDER_DEFAULTS,
    escalation: [
      'P1 pages the first tier at once; unacknowledged within `p1AckWithin` it pages the next. P2 within 15 minutes, P3 within 1 hour, P4 by the next business day, else the next tier is paged.',
      'Severity only rises during an incident; a rise restarts the response-time clock.',
      'An approval not decided within `approvalDeadline` pages the next tier in `escalation` and keeps waiting.',
    ],
  },
};

const KIND: Record<StepDef['kind'], string> = { auto: 'automated', approval: 'needs approval', manual: 'manual' };

export function renderDoc(id: RunbookId): string {
  const src = SOURCES[id];
  // A catalogue runbook's document is already in the template, and is what runs.
  if (!src && hasDocument(id)) return readFileSync(documentPath(id), 'utf8');
  if (!src) {
    return `# ${id}\n\n## Overview\nThis runbook id is reserved; its workflow is not built in this version.\n`;
  }
  const out = [`# ${id}`, '', '## Overview', src.overview, '', '## Symptoms', ...src.symptoms.map((s) => `- ${s}`)];
  for (const section of ['Immediate Actions', 'Investigation Steps', 'Resolution Steps', 'Prevention'] as const) {
    out.push('', `## ${section}`);
    let n = 1;
    for (const step of src.steps.filter((s) => src.sections[s.section] === section)) {
      out.push(`${n++}. **${step.title}** (\`${step.id}\`, ${KIND[step.kind]})`);
    }
  }
  out.push(
    '',
    '## Escalation',
    ...src.escalation.map((e) => `- ${e}`),
    '',
    '## Parameters',
    '| name | default |',
    '| --- | --- |',
  );
  for (const [k, v] of Object.entries(src.params))
    out.push(`| \`${k}\` | \`${typeof v === 'object' ? JSON.stringify(v) : String(v)}\` |`);
  return `${out.join('\n')}\n`;
}

export function renderAllDocs(): Map<RunbookId, string> {
  return new Map(RUNBOOK_IDS.map((id) => [id, renderDoc(id)]));
}
