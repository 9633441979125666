// The document's postmortem template, filled from the incident. Deterministic: nothing waits on
// the provider that may be the one down.
export interface PostmortemFields {
  title: string;
  startedAt: string;
  endedAt: string;
  severity: string;
  impact: string;
  rootCause: string;
  detection: string;
  mitigation: string;
  requestIds: string[];
  actionItems: string[];
}

export function renderPostmortem(f: PostmortemFields): string {
  return [
    `## Incident: ${f.title}`,
    `- **Duration:** ${f.startedAt} to ${f.endedAt}`,
    `- **Severity:** ${f.severity}`,
    `- **Impact:** ${f.impact}`,
    `- **Root Cause:** ${f.rootCause}`,
    `- **Detection:** ${f.detection}`,
    `- **Mitigation:** ${f.mitigation}`,
    `- **Request IDs:** ${f.requestIds.join(', ') || 'none recorded'}`,
    '- **Action Items:**',
    ...f.actionItems.map((a) => `  - [ ] ${a}`),
  ].join('\n');
}
