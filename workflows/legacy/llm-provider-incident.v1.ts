// The LLM provider runbook as released before patch `llm-provider-evidence`: zero test requests
// were classified healthy, the recovery window passed without a probe, incident-report was ticked
// as a note. Frozen: incidents started on it replay through it (llmProviderIncident's `patched`
// check), so its commands must not change. Delete once none run (then deprecatePatch).
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ProbeReport, ProbeResult } from '../../activities/provider';
import type { DecisionInput, Diagnosis, RunbookInput, RunbookResult } from '../definitions';
import { scheduleFollowUp } from '../follow-up';
import { formatMs, toMs } from '../toolkit/duration';
import { Mitigations, paramVars } from '../toolkit/mitigations';
import { recordPostIncident } from '../toolkit/post-incident';
import { Runbook } from '../toolkit/runbook';
import {
  BRANCH_MITIGATIONS,
  BRANCH_STEP,
  classify,
  diagnoseProvider,
  moreSevere,
  retryAfterMs,
  untilNextBusinessDay,
  type AppSignals,
  type Classification,
  type Severity,
} from './llm-provider-incident.v1.classify';
import { LLM_PROVIDER_DEFAULTS, type LlmProviderParams } from '../runbooks/llm-provider-incident.params';
import { renderPostmortem } from '../runbooks/llm-provider-incident.postmortem';
import { LLM_PROVIDER_STEPS as STEPS, MITIGATION } from '../runbooks/llm-provider-incident.steps';

/** The steps as released: the decision tree's misconfigured-request came with the patch. */
const LLM_PROVIDER_STEPS = STEPS.filter((s) => s.id !== 'misconfigured-request');

// Probes and reads report failures as data; a few attempts cover a worker restart.
const act = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});
const draft = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 1 } });
interface Observation {
  report: ProbeReport;
  app: AppSignals;
  classification: Classification;
}

export async function llmProviderIncidentV1(input: RunbookInput<Partial<LlmProviderParams>>): Promise<RunbookResult> {
  const p: LlmProviderParams = { ...LLM_PROVIDER_DEFAULTS, ...input.params };
  const triageBudget = 5 * 60_000;
  const rb = new Runbook({ ...input, params: { ...p } }, LLM_PROVIDER_STEPS, {
    'status-page': triageBudget,
    'connectivity-test': triageBudget,
    'rate-limit-headers': triageBudget,
  });
  const mitigations = new Mitigations(rb);
  const scope = { service: input.service, environment: input.environment };
  const startedMs = Date.now();
  const deadlineMs = toMs(p.approvalDeadline);
  const vars = paramVars(p);
  const keyCompromise =
    p.keyCompromise ||
    input.alert?.labels.type === 'key_compromise' ||
    /key.?(compromise|leak)/i.test(input.alert?.alertname ?? '');
  const probes: ProbeResult[] = [];
  let severity: Severity | null = null;
  let acknowledged: DecisionInput | undefined;
  let closing = false;
  // A responder's report of degraded quality stands until a responder says it is handled.
  let qualityReported = p.degradedQuality;
  let ackLoop: Promise<void> = Promise.resolve();

  try {
    // Severity Classification
    rb.setStatus('diagnosing');
    const first = await rb.step('classify-severity', async () => {
      const o = await observe(p.probeRequests);
      const c = keyCompromise
        ? { severity: 'P1' as const, reasons: ['API key compromise', ...o.classification.reasons] }
        : o.classification;
      rb.note('classify-severity', `${c.severity ?? 'no incident'}: ${c.reasons.join('; ')}`);
      rb.finding({
        step: 'classify-severity',
        level: c.severity === 'P1' || c.severity === 'P2' ? 'critical' : c.severity ? 'warning' : 'info',
        summary: `${c.severity ?? 'healthy'}: ${c.reasons.join('; ')}`,
        evidence: { probes: o.report.results, configured: o.report.configured, reason: o.report.reason },
      });
      return { ...o, classification: c };
    });
    raise(first.classification);
    ackLoop = acknowledge();
    ackLoop.catch(() => undefined);

    // Immediate Triage (First 5 Minutes)
    const status = await rb.step('status-page', async () => {
      const pages = await act.providerStatus.executeWithOptions({ summary: 'provider status page' }, []);
      const seen = pages.filter((s) => s.available).map((s) => (s.available ? s.data : null)!);
      rb.finding({
        step: 'status-page',
        level: seen.some((s) => s.indicator !== 'none') ? 'warning' : pages.length ? 'info' : 'unavailable',
        summary: pages.length
          ? pages
              .map((s) => (s.available ? `${s.data.name}: ${s.data.indicator} - ${s.data.description}` : s.reason))
              .join('; ')
          : 'no status page configured (ANTHROPIC_STATUS_URL)',
        evidence: pages,
      });
      return seen[0] ?? null;
    });
    await rb.step('connectivity-test', async () => {
      const o = await observe(1);
      const r = o.report.results[0];
      rb.finding({
        step: 'connectivity-test',
        level: !r ? 'unavailable' : r.outcome === 'ok' ? 'info' : 'critical',
        summary: r
          ? `HTTP ${r.status ?? r.outcome} | Time: ${(r.latencyMs / 1000).toFixed(2)}s | request-id ${r.requestId ?? 'none'}${r.errorType ? ` | ${r.errorType}: ${r.message}` : ''}`
          : `not tested: ${o.report.reason}`,
        evidence: o.report,
      });
    });
    await rb.step('rate-limit-headers', async () => {
      const last = [...probes].reverse().find((r) => Object.keys(r.rateLimit).length > 0);
      rb.finding({
        step: 'rate-limit-headers',
        level: probes.some((r) => r.status === 429) ? 'warning' : 'info',
        summary: last
          ? `${Object.entries(last.rateLimit)
              .filter(([k]) => /remaining|retry-after|reset/.test(k))
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ')}; request ids ${requestIds().slice(0, 5).join(', ')}`
          : 'no rate-limit headers in the answers',
        evidence: last?.rateLimit ?? null,
      });
    });

    if (keyCompromise) {
      for (const s of LLM_PROVIDER_STEPS.filter((s) => s.section === 'Decision Tree' || s.section === MITIGATION))
        rb.skip(s.id, 'key compromise: the key is replaced, not worked around');
      rb.state.diagnosis = { primary: 'key_compromise', causes: [] };
      await keyCompromisePath();
    } else {
      for (const id of ['revoke-key', 'rotate-key', 'audit-usage', 'incident-report']) rb.skip(id, 'no key compromise');
      await decisionTree(first, status?.indicator ?? null);
    }

    await recovery();
    await rb.step('remove-mitigations', () => mitigations.undoAll('the API has recovered'));
    return await finish();
  } catch (err) {
    return await mitigations.abandon(err);
  }

  /** Probes the API and reads the app's metrics: one classification. */
  async function observe(requests: number): Promise<Observation> {
    const [report, metrics] = await Promise.all([
      act.probeProvider.executeWithOptions({ summary: `${requests} test request(s) to the API` }, [
        { requests, model: p.probeModel, timeoutMs: toMs(p.probeTimeout), baseUrl: input.drill?.providerBaseUrl },
      ]),
      act.providerMetrics.executeWithOptions({ summary: "the app's provider metrics" }, [scope]),
    ]);
    probes.push(...report.results);
    const app = metrics.available ? metrics.data : { errorRatio: null, p99Ms: null, quality: null };
    return {
      report,
      app,
      classification: classify(report.results, app, {
        p99LatencyMs: toMs(p.p99LatencyThreshold),
        intermittentErrorRate: p.intermittentErrorRate,
        qualityThreshold: p.qualityThreshold,
        degradedQualityReported: qualityReported,
      }),
    };
  }

  /** Severity only rises during an incident; a rise restarts the response-time clock. */
  function raise(c: Classification): void {
    if (!moreSevere(c.severity, severity)) return;
    const was = severity;
    severity = c.severity;
    rb.setSeverity(severity as Severity);
    if (was) rb.record('severity_raised', `severity ${was} → ${severity}: ${c.reasons.join('; ')}`, c);
  }

  /** Someone must acknowledge within the severity's response time, else the next tier is paged. */
  async function acknowledge(): Promise<void> {
    while (!acknowledged && !closing && severity) {
      const sev: Severity = severity;
      const response =
        sev === 'P1'
          ? toMs(p.p1AckWithin)
          : sev === 'P2'
            ? toMs(p.p2AckWithin)
            : sev === 'P3'
              ? toMs(p.p3AckWithin)
              : untilNextBusinessDay(Date.now(), p.businessDayStartHour, p.businessUtcOffsetMinutes);
      if (sev === 'P1') {
        // "Immediate": page now; the deadline pages the tier after.
        await rb.escalate(`P1 on the LLM provider: ${input.service} (${input.environment})`, 1);
      } else {
        await act.notify.executeWithOptions({ summary: 'tell on-call' }, [
          {
            target: 'oncall',
            text: `${sev} LLM provider incident on ${input.service} (${input.environment}): acknowledge within ${formatMs(response)} (${workflowInfo().workflowId})`,
          },
        ]);
      }
      acknowledged = await rb.gate('acknowledge', {
        kind: 'manual',
        decisions: ['acknowledge'],
        detail: `${sev}: acknowledge within ${formatMs(response)}`,
        deadlineMs: response,
        escalateFrom: sev === 'P1' ? 2 : 1,
        withdrawWhen: () => closing || severity !== sev,
      });
    }
    if (acknowledged) rb.note('acknowledge', `acknowledged by ${acknowledged.by}`);
  }

  async function decisionTree(first: Observation, indicator: string | null): Promise<void> {
    const diagnosis = await rb.step('diagnosis', async () => {
      const d = diagnoseProvider(
        first.report.results,
        indicator,
        first.app.p99Ms === null ? undefined : { p99Ms: first.app.p99Ms, thresholdMs: toMs(p.p99LatencyThreshold) },
      );
      rb.state.diagnosis = { primary: d.primary, causes: d.causes };
      rb.record('diagnosis', `diagnosis: ${d.primary}`, d);
      rb.note('diagnosis', d.causes.map((c) => `${c.cause} (${Math.round(c.score * 100)}%)`).join(', ') || 'no errors');
      return d;
    });
    const branchStep = BRANCH_STEP[diagnosis.branch];
    for (const id of Object.values(BRANCH_STEP)) if (id && id !== branchStep) rb.skip(id, `not ${diagnosis.branch}`);
    let recovered = false;
    if (diagnosis.branch === 'auth_failure') {
      await rb.step('key-issue', async () => {
        const fixed = await rb.gate('key-issue', {
          kind: 'manual',
          detail: `Every request is refused (401/403). ${first.report.configured ? 'ANTHROPIC_API_KEY is set' : 'ANTHROPIC_API_KEY is NOT set on the worker'}: check the Console for active keys, rotate or redeploy it, then mark done.`,
          deadlineMs,
        });
        rb.note('key-issue', fixed ? `${fixed.by}: ${fixed.decision}` : 'withdrawn');
      });
      recovered = (await observe(p.probeRequests)).classification.severity === null;
    } else if (diagnosis.branch === 'rate_limited') {
      recovered = await rb.step('rate-limit-wait', async () => {
        const waitMs = retryAfterMs(first.report.results) ?? toMs(p.rateLimitDefaultWait);
        rb.note('rate-limit-wait', `waiting ${formatMs(waitMs)} (retry-after), then testing again`);
        await sleep(waitMs, { summary: `retry-after ${formatMs(waitMs)}` });
        return settled(await observe(p.probeRequests), 'rate-limit-wait');
      });
    } else if (diagnosis.branch === 'server_error') {
      recovered = await rb.step('server-error-retry', async () => {
        for (let i = 0; i < p.serverErrorRetries; i++) {
          const backoff = toMs(p.serverErrorBackoff) * 2 ** i;
          await sleep(backoff, { summary: `backoff ${formatMs(backoff)} before retry ${i + 1}` });
          if (settled(await observe(p.probeRequests), 'server-error-retry')) return true;
        }
        return false;
      });
    } else if (diagnosis.branch === 'overloaded') {
      recovered = await rb.step('overloaded-retry', async () => {
        await sleep(toMs(p.overloadedRetryAfter), {
          summary: `overloaded: retry after ${formatMs(toMs(p.overloadedRetryAfter))}`,
        });
        return settled(await observe(p.probeRequests), 'overloaded-retry');
      });
    } else if (diagnosis.branch === 'timeout') {
      await rb.step('timeout-check', async () => {
        rb.note(
          'timeout-check',
          `${diagnosis.causes[0]?.evidence[0] ?? 'slow answers'}: increase the client timeout and check max_tokens (reduce it, or a smaller model)`,
        );
      });
    }
    const plan = recovered ? [] : [...BRANCH_MITIGATIONS[diagnosis.branch]];
    for (const s of LLM_PROVIDER_STEPS.filter((s) => s.section === MITIGATION && s.kind === 'approval'))
      if (!plan.includes(s.id))
        rb.skip(s.id, recovered ? 'recovered before mitigation' : `not for ${diagnosis.branch}`);
    for (const step of plan) {
      await mitigations.apply({
        step,
        temporary: true,
        detail: proposal(step, diagnosis),
        deadlineMs,
        withdrawWhen: () => rb.alertResolved,
        vars,
      });
    }
    if (!recovered && plan.length === 0) {
      // Degraded quality or an app-side signal with no branch: responders look into it.
      const handled = await rb.gate('manual-mitigation', {
        kind: 'manual',
        detail: `${rb.state.findings[0]?.summary ?? ''}. ${severity ? 'Investigate' : 'The provider answers: look for the cause in the app'}, then mark done.`,
        deadlineMs,
      });
      rb.note('manual-mitigation', handled ? `${handled.by}: ${handled.decision}` : 'withdrawn');
      if (handled?.decision === 'done') qualityReported = false;
    } else {
      rb.skip('manual-mitigation', plan.length ? 'mitigations offered' : 'recovered');
    }
  }

  /** True when the retry came back healthy; the observation may raise the severity. */
  function settled(o: Observation, step: string): boolean {
    raise(o.classification);
    const healthy = o.classification.severity === null;
    rb.note(step, healthy ? 'the API answers again' : `still failing: ${o.classification.reasons.join('; ')}`);
    return healthy;
  }

  async function keyCompromisePath(): Promise<void> {
    await mitigations.apply({
      step: 'revoke-key',
      temporary: false,
      detail: p.apiKeyId
        ? `Revoke API key ${p.apiKeyId} through the Admin API (ANTHROPIC_ADMIN_KEY), else by hand at console.anthropic.com.`
        : 'Revoke the key at console.anthropic.com (no apiKeyId given for the Admin API), then confirm.',
      deadlineMs,
      vars,
    });
    await mitigations.apply({
      step: 'rotate-key',
      temporary: false,
      detail: 'Generate a new key and deploy it to all environments (the configured rotate-key command, else by hand).',
      deadlineMs,
      vars,
    });
    await rb.step('audit-usage', async () => {
      const audit = await act.auditKeyUsage.executeWithOptions({ summary: 'usage by key, user and tenant' }, [
        { nowMs: Date.now(), windowMs: toMs(p.auditWindow) },
      ]);
      rb.finding({
        step: 'audit-usage',
        level: !audit.available ? 'unavailable' : audit.data.suspicious.length ? 'critical' : 'info',
        summary: !audit.available
          ? `usage audit unavailable: ${audit.reason}`
          : `${audit.data.requests} requests in ${formatMs(toMs(p.auditWindow))}; ${
              audit.data.suspicious.length
                ? `new or 3x usage: ${audit.data.suspicious
                    .slice(0, 5)
                    .map((s) => `${s.dimension} ${s.name} ${s.before} → ${s.requests}`)
                    .join(', ')}`
                : 'no new or sharply grown key, user, tenant or agent'
            }`,
        evidence: audit,
      });
    });
    await rb.step('incident-report', async () => {
      rb.note('incident-report', 'filed with the postmortem in the incident store');
    });
  }

  /** Probes until the API has been healthy for the whole recovery window. */
  async function recovery(): Promise<void> {
    rb.setStatus('validating');
    await rb.step('recovery-check', async () => {
      const windowMs = toMs(p.recoveryWindow);
      const intervalMs = toMs(p.recoveryInterval);
      let healthySince: number | null = null;
      for (let i = 1; ; i++) {
        const o = await observe(p.probeRequests);
        raise(o.classification);
        const healthy = o.classification.severity === null;
        healthySince = healthy ? (healthySince ?? Date.now()) : null;
        rb.note(
          'recovery-check',
          `probe ${i}: ${healthy ? 'healthy' : o.classification.reasons.join('; ')}${healthySince ? ` (healthy for ${formatMs(Date.now() - healthySince)})` : ''}`,
        );
        rb.record(
          'recovery_probe',
          healthy ? 'healthy' : o.classification.reasons.join('; '),
          o.classification,
          'recovery-check',
        );
        if (healthySince !== null && Date.now() - healthySince >= windowMs) return;
        await sleep(intervalMs, { summary: `recovery probe ${i + 1}` });
      }
    });
  }

  async function finish(): Promise<RunbookResult> {
    closing = true;
    rb.setStatus('follow_up');
    const diagnosis: Diagnosis = rb.state.diagnosis ?? { primary: 'healthy', causes: [] };
    const applied = rb.state.mitigations
      .filter((m) => m.status === 'applied' || m.status === 'undone')
      .map((m) => m.step);
    const resolution = applied.length
      ? `recovered; mitigations ${applied.join(', ')} undone`
      : 'recovered without mitigation';
    rb.state.resolution = resolution;
    const actionItems = actionItemsFor(diagnosis.primary);
    await rb.step('postmortem', async () => {
      const postmortem = renderPostmortem({
        title: `${input.service} (${input.environment}): ${diagnosis.primary.replace(/_/g, ' ')}`,
        startedAt: rb.state.startedAt,
        endedAt: new Date().toISOString(),
        severity: severity ?? 'none',
        impact: impact(),
        rootCause: diagnosis.causes[0]?.evidence.join('; ') ?? diagnosis.primary,
        detection:
          input.source === 'alertmanager'
            ? `alert ${input.alert?.alertname ?? ''} from Alertmanager`
            : `${input.startedBy} (${input.source})`,
        mitigation: `${applied.join(', ') || 'none'}; ${resolution}`,
        requestIds: requestIds(),
        actionItems,
      });
      // One short try: with the API down or no key, the template alone is the postmortem.
      const narrative = await draft.draftNarrative.executeWithOptions({ summary: 'draft the narrative' }, [
        { postmortem, model: p.probeModel, timeoutMs: 20_000 },
      ]);
      const document = narrative
        ? `${postmortem}\n\n### Narrative (drafted by ${p.probeModel})\n${narrative}`
        : postmortem;
      await recordPostIncident(
        input.runbook,
        {
          rootCause: diagnosis.primary,
          impact: impact(),
          resolution,
          followUps: actionItems,
          postmortem: document,
        },
        toMs(p.followUpAfter),
      );
      await scheduleFollowUp(input, actionItems, toMs(p.followUpAfter));
      rb.note('postmortem', `stored with the incident; follow-up in ${formatMs(toMs(p.followUpAfter))}`);
    });
    await ackLoop;
    rb.setStatus('resolved');
    await rb.flush();
    return { status: rb.state.status, diagnosis: rb.state.diagnosis, resolution };
  }

  function requestIds(): string[] {
    return [...new Set(probes.filter((r) => r.outcome !== 'ok' && r.requestId).map((r) => r.requestId as string))];
  }

  function impact(): string {
    const failed = probes.filter((r) => r.outcome !== 'ok').length;
    return `${failed} of ${probes.length} test requests failed between ${rb.state.startedAt} and ${new Date().toISOString()} (${Math.round((Date.now() - startedMs) / 60_000)} minutes); severity ${severity ?? 'none'}`;
  }
}

function proposal(step: string, d: Diagnosis): string {
  const why = d.causes[0]?.evidence.join('; ') ?? d.primary;
  return `${step} while the API is ${d.primary.replace(/_/g, ' ')}; undone once it has recovered. Because: ${why}`.slice(
    0,
    600,
  );
}

function actionItemsFor(primary: string): string[] {
  const items: Record<string, string[]> = {
    rate_limited: ['Review rate limit tier and traffic shaping (queue, batches) for bursts'],
    server_error: ['Keep the fallback path and retry-with-backoff tested'],
    overloaded: ['Retry 529s after 30-60s in the client; keep the fallback path tested'],
    timeout: ['Set client timeouts from max_tokens; route slow paths to a smaller model'],
    auth_failure: ['Alert on key expiry; keep key rotation scripted'],
    key_compromise: ['Rotate keys on a schedule; scope keys per environment; alert on usage by unknown keys'],
  };
  return [
    ...(items[primary] ?? ['Review detection for degraded quality']),
    'Add a regression test for this failure mode',
  ];
}
