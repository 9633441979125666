// The synthetic probe, run by a Temporal Schedule: the document's connectivity test against the
// provider. When it fails, the llm-provider-incident runbook starts, or the open incident for the
// same service and environment hears about it as a re-fired alert: never a second incident.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { classify } from './runbooks/llm-provider-incident.classify';
import type { LlmProviderParams } from './runbooks/llm-provider-incident.params';
import { toMs } from './toolkit/duration';
import { checkAlert, openOrJoinIncident, type OpenedIncident } from './toolkit/open-incident';

const act = proxyActivities<Activities>({ startToCloseTimeout: '2m', retry: { maximumAttempts: 2 } });

export interface ProbeInput {
  service: string;
  environment: string;
}

export interface ProbeOutcome {
  /** True only when test requests answered and no row of the severity table holds. */
  healthy: boolean;
  /** False when nothing reached the provider (no key) or every request was refused as malformed. */
  tested: boolean;
  detail: string;
  incident?: OpenedIncident;
}

export async function providerProbe({ service, environment }: ProbeInput): Promise<ProbeOutcome> {
  const key = `probe-${service}-${environment}`;
  const alert = checkAlert('LLMProviderProbeFailed', `probe:${service}/${environment}`, { service, environment });
  const req = {
    runbook: 'llm-provider-incident' as const,
    service,
    environment,
    source: 'probe' as const,
    startedBy: 'synthetic probe',
    alert,
  };
  // The config's parameters (probe size, model, thresholds) come with the would-be incident's input.
  const runInput = await act.incidentInput({ req, key });
  const p = runInput.params as unknown as LlmProviderParams;
  const report = await act.probeProvider.executeWithOptions({ summary: 'connectivity test' }, [
    { requests: p.probeRequests, model: p.probeModel, timeoutMs: toMs(p.probeTimeout) },
  ]);
  // Not probed is not healthy: it says nothing of the provider.
  if (!report.configured) return { healthy: false, tested: false, detail: `not tested: ${report.reason}` };
  const c = classify(
    report.results,
    { errorRatio: null, p99Ms: null, quality: null },
    {
      p99LatencyMs: toMs(p.p99LatencyThreshold),
      intermittentErrorRate: p.intermittentErrorRate,
      qualityThreshold: p.qualityThreshold,
      degradedQualityReported: false,
    },
    report.reason,
  );
  if (c.verdict === 'healthy') return { healthy: true, tested: true, detail: c.reasons.join('; ') };
  // Every request refused as malformed (a retired model id, a wrong endpoint): the probe tests
  // nothing until someone fixes it, so the incident opens, with no severity claimed.
  const severity = c.severity ?? 'unknown';
  alert.labels.severity = severity;
  alert.annotations.summary = c.reasons.join('; ');
  const detail = `${severity}: ${c.reasons.join('; ')}`;
  const incident = await openOrJoinIncident({ ...runInput, severity, alert });
  return { healthy: false, tested: c.verdict !== 'not_tested', detail, incident };
}
