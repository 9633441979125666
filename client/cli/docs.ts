// `runbook docs`: each runbook rendered in the catalogue's template (Overview, Symptoms,
// Immediate Actions, Investigation Steps, Resolution Steps, Prevention, Escalation) from the
// step definitions that run, so the documentation cannot drift from the code.
import { RUNBOOK_IDS, type RunbookId } from '../../workflows/definitions';
import { API_ERROR_BUDGET_STEPS } from '../../workflows/runbooks/api-error-budget.steps';
import { API_ERROR_BUDGET_DEFAULTS } from '../../workflows/runbooks/api-error-budget.params';
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
};

const KIND: Record<StepDef['kind'], string> = { auto: 'automated', approval: 'needs approval', manual: 'manual' };

export function renderDoc(id: RunbookId): string {
  const src = SOURCES[id];
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
  for (const [k, v] of Object.entries(src.params)) out.push(`| \`${k}\` | \`${String(v)}\` |`);
  return `${out.join('\n')}\n`;
}

export function renderAllDocs(): Map<RunbookId, string> {
  return new Map(RUNBOOK_IDS.map((id) => [id, renderDoc(id)]));
}
