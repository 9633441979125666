// Anthropic API Incident Response — outages, degradation and rate limiting of the Claude API.
// Follows the document: severity classification with its response times, immediate triage,
// the decision tree, mitigation actions, key compromise, then recovery and the postmortem.
//
// Every claim backed by evidence: no test request (no key, every request refused as malformed) is
// "not tested", never healthy, and a responder is asked; the recovery window holds only when every
// probe round over its whole length answered healthy, and one without data asks a responder.
import { ContinueAsNew, continueAsNew, patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ProbeReport, ProbeResult } from '../../activities/provider';
import type { DecisionInput, Diagnosis, RunbookInput, RunbookResult } from '../definitions';
import { scheduleFollowUp } from '../follow-up';
import { llmProviderIncidentV1 } from '../legacy/llm-provider-incident.v1';
import { formatMs, toMs } from '../toolkit/duration';
import { Mitigations, paramVars, type MitigationsCarry } from '../toolkit/mitigations';
import { recordPostIncident } from '../toolkit/post-incident';
import { Runbook, type RunbookCarry } from '../toolkit/runbook';
import {
  BRANCH_MITIGATIONS,
  BRANCH_STEP,
  classify,
  describeRefusal,
  diagnoseProvider,
  moreSevere,
  retryAfterMs,
  untilNextBusinessDay,
  type AppSignals,
  type Classification,
  type Severity,
} from './llm-provider-incident.classify';
import { LLM_PROVIDER_DEFAULTS, type LlmProviderParams } from './llm-provider-incident.params';
import { renderPostmortem } from './llm-provider-incident.postmortem';
import { LLM_PROVIDER_STEPS, MITIGATION } from './llm-provider-incident.steps';

/**
 * Incidents started before this patch (not tested taken for healthy, a recovery window passed
 * without a probe) replay through llmProviderIncidentV1, unchanged.
 */
export const EVIDENCE_PATCH = 'llm-provider-evidence';

// Probes and reads report failures as data; a few attempts cover a worker restart.
const act = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});
const draft = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 1 } });
interface Observation {
  report: ProbeReport;
  app: AppSignals;
  /** Why the app's metrics could not be read, when they could not. */
  appUnread?: string;
  /** Why the provider may not have been tested: no key, no app error ratio. */
  untested: string;
  classification: Classification;
}

/** How the recovery check ended: held (or confirmed by a responder), or handed to responders. */
type Recovery = { recovered: boolean; reason: string; confirmedBy?: string };

type WindowVerdict = { verdict: 'passed' | 'failed' | 'insufficient_data'; reason: string };

/** Runs that failed their recovery windows long enough continue as new from the next window. */
const CONTINUE_PATCH = 'llm-provider-continue-as-new';

/** The test requests kept for the postmortem's request ids; the totals count every one. */
const PROBES_KEPT = 200;

/** What a run that continues as new during the recovery check hands the next. */
export interface LlmProviderCarry {
  runbook: RunbookCarry;
  mitigations: MitigationsCarry;
  startedMs: number;
  severity: Severity | null;
  notTested: string | null;
  acknowledged?: DecisionInput;
  ackStarted: boolean;
  qualityReported: boolean;
  probes: ProbeResult[];
  probeTotals: { sent: number; failed: number };
  read: string[];
  unread: { source: string; reason: string }[];
  /** The recovery window the next run starts with (after one interval), and whether on-call was told. */
  nextWindow: number;
  told: boolean;
}

export async function llmProviderIncident(
  input: RunbookInput<Partial<LlmProviderParams>> & { continued?: LlmProviderCarry },
): Promise<RunbookResult> {
  // A continued run was started by this code: it has no earlier version to replay.
  const carried = input.continued;
  if (!carried && !patched(EVIDENCE_PATCH)) return llmProviderIncidentV1(input);
  const p: LlmProviderParams = { ...LLM_PROVIDER_DEFAULTS, ...input.params };
  const triageBudget = 5 * 60_000;
  const rb = new Runbook(
    { ...input, params: { ...p } },
    LLM_PROVIDER_STEPS,
    {
      'status-page': triageBudget,
      'connectivity-test': triageBudget,
      'rate-limit-headers': triageBudget,
    },
    carried?.runbook,
  );
  const mitigations = new Mitigations(rb, carried?.mitigations);
  const scope = { service: input.service, environment: input.environment };
  const where = `${input.service} (${input.environment})`;
  const startedMs = carried?.startedMs ?? Date.now();
  const deadlineMs = toMs(p.approvalDeadline);
  const vars = paramVars(p);
  const keyCompromise =
    p.keyCompromise ||
    input.alert?.labels.type === 'key_compromise' ||
    /key.?(compromise|leak)/i.test(input.alert?.alertname ?? '');
  const probes: ProbeResult[] = carried?.probes ?? [];
  const probeTotals = carried?.probeTotals ?? { sent: 0, failed: 0 };
  // What the diagnosis read, and what it could not read with the reason.
  const read: string[] = carried?.read ?? [];
  const unread: { source: string; reason: string }[] = carried?.unread ?? [];
  let severity: Severity | null = carried?.severity ?? null;
  // The reason the first observation tested nothing, when it did not.
  let notTested: string | null = carried?.notTested ?? null;
  let acknowledged: DecisionInput | undefined = carried?.acknowledged;
  let closing = false;
  // A responder's report of degraded quality stands until a responder says it is handled.
  let qualityReported = carried?.qualityReported ?? p.degradedQuality;
  let ackLoop: Promise<void> = Promise.resolve();
  let ackStarted = carried?.ackStarted ?? false;

  try {
    if (carried) {
      // The page asked in an earlier run is still waiting: its deadline and escalations stand.
      if (ackStarted && !acknowledged) startAcknowledge(true);
    } else await respond();
    const recovery = await recover(carried);
    if (!recovery.recovered) rb.skip('remove-mitigations', `left in place: ${recovery.reason}`);
    else if (!rb.state.mitigations.some((m) => m.temporary && m.status === 'applied'))
      rb.skip('remove-mitigations', 'no temporary mitigation to undo');
    else await mitigations.removeTemporary('remove-mitigations', 'the API has recovered');
    return await finish(recovery);
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    return await mitigations.abandon(err);
  }

  /** Classification, triage and the decision tree (or the key compromise path), up to recovery. */
  async function respond(): Promise<void> {
    // Severity Classification
    rb.setStatus('diagnosing');
    const first = await rb.step('classify-severity', async () => {
      const o = await observe(p.probeRequests);
      if (o.report.results.length) read.push(`test requests (${o.report.results.length} to ${o.report.model})`);
      else unread.push({ source: 'test requests', reason: o.report.reason ?? 'no test request was answered' });
      if (o.appUnread) unread.push({ source: "the app's provider metrics", reason: o.appUnread });
      else read.push("the app's provider metrics");
      const c: Classification = keyCompromise
        ? { severity: 'P1', verdict: 'incident', reasons: ['API key compromise', ...o.classification.reasons] }
        : o.classification;
      const text =
        c.verdict === 'not_tested' ? c.reasons.join('; ') : `${c.severity ?? 'healthy'}: ${c.reasons.join('; ')}`;
      rb.note('classify-severity', text);
      rb.finding({
        step: 'classify-severity',
        level:
          c.verdict === 'not_tested'
            ? 'unavailable'
            : c.severity === 'P1' || c.severity === 'P2'
              ? 'critical'
              : c.severity
                ? 'warning'
                : 'info',
        summary: text,
        evidence: { probes: o.report.results, configured: o.report.configured, reason: o.report.reason },
      });
      if (c.verdict === 'not_tested') {
        notTested = c.reasons.join('; ');
        rb.unavailable('classify-severity', notTested);
      }
      return { ...o, classification: c };
    });
    raise(first.classification);
    // No severity without evidence: the default one a start was given is not a claim to keep.
    if (first.classification.verdict === 'not_tested' && !input.alert?.labels.severity) rb.setSeverity('unknown');

    // Immediate Triage (First 5 Minutes)
    const status = await rb.step('status-page', async () => {
      const pages = await act.providerStatus.executeWithOptions({ summary: 'provider status page' }, []);
      const seen = pages.filter((s) => s.available).map((s) => (s.available ? s.data : null)!);
      rb.finding({
        step: 'status-page',
        level: seen.some((s) => s.indicator !== 'none') ? 'warning' : seen.length ? 'info' : 'unavailable',
        summary: pages.length
          ? pages
              .map((s) => (s.available ? `${s.data.name}: ${s.data.indicator} - ${s.data.description}` : s.reason))
              .join('; ')
          : 'no status page configured (ANTHROPIC_STATUS_URL)',
        evidence: pages,
      });
      for (const s of pages)
        if (s.available) read.push(`status page ${s.data.name}`);
        else unread.push({ source: `status page ${s.query ?? ''}`.trim(), reason: s.reason });
      if (!pages.length) {
        unread.push({ source: 'status page', reason: 'not configured (ANTHROPIC_STATUS_URL)' });
        rb.unavailable('status-page', 'no status page configured (ANTHROPIC_STATUS_URL)');
      } else if (!seen.length) {
        rb.unavailable('status-page', pages.map((s) => (s.available ? '' : s.reason)).join('; '));
      }
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
      if (!r) rb.unavailable('connectivity-test', `not tested: ${o.report.reason ?? 'no answer'}`);
    });
    await rb.step('rate-limit-headers', async () => {
      const last = [...probes].reverse().find((r) => Object.keys(r.rateLimit).length > 0);
      const missing = probes.length
        ? `none of the ${probes.length} answers carried rate-limit headers`
        : `no test request was sent (${first.report.reason ?? 'none answered'}): no headers to read`;
      rb.finding({
        step: 'rate-limit-headers',
        level: probes.some((r) => r.status === 429) ? 'warning' : last ? 'info' : 'unavailable',
        summary: last
          ? `${Object.entries(last.rateLimit)
              .filter(([k]) => /remaining|retry-after|reset/.test(k))
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ')}; request ids ${requestIds().slice(0, 5).join(', ')}`
          : missing,
        evidence: last?.rateLimit ?? null,
      });
      if (!last) rb.unavailable('rate-limit-headers', missing);
    });

    if (keyCompromise) {
      for (const s of LLM_PROVIDER_STEPS.filter((s) => s.section === 'Decision Tree' || s.section === MITIGATION))
        rb.skip(s.id, 'key compromise: the key is replaced, not worked around');
      rb.state.diagnosis = { primary: 'key_compromise', causes: [], sources: sources() };
      await keyCompromisePath();
    } else {
      for (const id of ['revoke-key', 'rotate-key', 'audit-usage', 'incident-report']) rb.skip(id, 'no key compromise');
      await decisionTree(first, status?.indicator ?? null);
    }
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
    probes.splice(0, probes.length - PROBES_KEPT);
    probeTotals.sent += report.results.length;
    probeTotals.failed += report.results.filter((r) => r.outcome !== 'ok').length;
    const app = metrics.available ? metrics.data : { errorRatio: null, p99Ms: null, quality: null };
    const appUnread = metrics.available ? undefined : metrics.reason;
    const untested = [
      report.results.length ? null : (report.reason ?? 'no test request was answered'),
      appUnread
        ? `the app's provider metrics: ${appUnread}`
        : app.errorRatio === null
          ? "the app's provider metrics have no error ratio"
          : null,
    ]
      .filter(Boolean)
      .join('; ');
    return {
      report,
      app,
      appUnread,
      untested,
      classification: classify(
        report.results,
        app,
        {
          p99LatencyMs: toMs(p.p99LatencyThreshold),
          intermittentErrorRate: p.intermittentErrorRate,
          qualityThreshold: p.qualityThreshold,
          degradedQualityReported: qualityReported,
        },
        untested,
      ),
    };
  }

  function sources(): NonNullable<Diagnosis['sources']> {
    return { read: [...new Set(read)], unread: unread.map((u) => ({ ...u })) };
  }

  /** Severity only rises during an incident; a rise restarts the response-time clock. */
  function raise(c: Classification): void {
    if (!moreSevere(c.severity, severity)) return;
    const was = severity;
    severity = c.severity;
    rb.setSeverity(severity as Severity);
    if (was) rb.record('severity_raised', `severity ${was} → ${severity}: ${c.reasons.join('; ')}`, c);
    // The first severity established starts the acknowledgement, whenever it comes.
    if (!ackStarted) startAcknowledge(false);
  }

  function startAcknowledge(resumed: boolean): void {
    ackStarted = true;
    ackLoop = acknowledge(resumed);
    ackLoop.catch(() => undefined);
  }

  /** Tells on-call what the runbook needs from a responder. */
  async function tell(text: string): Promise<void> {
    await act.notify.executeWithOptions({ summary: 'tell on-call' }, [
      { target: 'oncall', text: `${text} (${workflowInfo().workflowId})` },
    ]);
  }

  /** Someone must acknowledge within the severity's response time, else the next tier is paged. */
  async function acknowledge(resumed: boolean): Promise<void> {
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
      if (resumed) {
        // Paged in an earlier run; the question it asked goes on waiting.
      } else if (sev === 'P1') {
        // "Immediate": page now; the deadline pages the tier after.
        await rb.escalate(`P1 on the LLM provider: ${where}`, 1);
      } else {
        await act.notify.executeWithOptions({ summary: 'tell on-call' }, [
          {
            target: 'oncall',
            text: `${sev} LLM provider incident on ${where}: acknowledge within ${formatMs(response)} (${workflowInfo().workflowId})`,
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
        resume: resumed,
      });
      resumed = false;
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
      rb.state.diagnosis = { primary: d.primary, causes: d.causes, sources: sources() };
      rb.record('diagnosis', `diagnosis: ${d.primary}`, d);
      if (d.branch === 'not_tested')
        rb.unavailable('diagnosis', `not tested: ${first.untested}: no branch of the decision tree to follow`);
      else
        rb.note(
          'diagnosis',
          d.causes.map((c) => `${c.cause} (${Math.round(c.score * 100)}%)`).join(', ') ||
            `no errors in ${first.report.results.length} test requests`,
        );
      return d;
    });
    const branchStep = BRANCH_STEP[diagnosis.branch];
    const notThis = diagnosis.branch === 'not_tested' ? 'not tested: no branch to follow' : `not ${diagnosis.branch}`;
    for (const id of Object.values(BRANCH_STEP)) if (id && id !== branchStep) rb.skip(id, notThis);
    // The mitigations the document gives another branch are not for this one, from the start.
    const offered = BRANCH_MITIGATIONS[diagnosis.branch];
    const mitigationSteps = LLM_PROVIDER_STEPS.filter((s) => s.section === MITIGATION && s.kind === 'approval');
    for (const s of mitigationSteps)
      if (!offered.includes(s.id))
        rb.skip(
          s.id,
          diagnosis.branch === 'not_tested'
            ? 'not tested: no mitigation without evidence of a failure'
            : `not for ${diagnosis.branch}`,
        );
    let recovered = false;
    if (diagnosis.branch === 'auth_failure') {
      await rb.step('key-issue', async () => {
        const fixed = await rb.gate('key-issue', {
          kind: 'manual',
          detail: `Every request is refused (401/403). ${first.report.configured ? 'ANTHROPIC_API_KEY is set' : 'ANTHROPIC_API_KEY is NOT set on the worker'}: check the Console for active keys, rotate or redeploy it, then mark done.`,
          deadlineMs,
        });
        if (fixed?.decision === 'skip')
          rb.skip('key-issue', `${fixed.by}: skip${fixed.comment ? ` (${fixed.comment})` : ''}`);
        else rb.note('key-issue', fixed ? `${fixed.by}: ${fixed.decision}` : 'withdrawn');
      });
      recovered = settled(await observe(p.probeRequests), null);
    } else if (diagnosis.branch === 'misconfigured') {
      await rb.step('misconfigured-request', async () => {
        const refusal = describeRefusal(first.report.results);
        const question = `The API refused the test requests as malformed: ${refusal} (model "${p.probeModel}"). The request is wrong, not the provider: a model id the API does not serve, or the wrong endpoint. Fix probeModel (runbooks.llm-provider-incident.params; and the app's own model setting if it uses the same id) or ANTHROPIC_BASE_URL, then mark done; skip if it is not a configuration problem.`;
        await tell(
          `LLM provider incident on ${where}: test requests refused as misconfigured (${refusal}); a responder must fix the model id or endpoint`,
        );
        const fixed = await rb.gate('misconfigured-request', { kind: 'manual', detail: question, deadlineMs });
        if (fixed?.decision === 'skip') rb.skip('misconfigured-request', `${fixed.by}: not a configuration problem`);
        else rb.note('misconfigured-request', fixed ? `${fixed.by}: ${fixed.decision}` : 'withdrawn');
      });
      recovered = settled(await observe(p.probeRequests), null);
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
    const plan = recovered ? [] : [...offered];
    if (recovered) for (const id of offered) rb.skip(id, 'recovered before mitigation');
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
      let detail: string;
      if (diagnosis.branch === 'not_tested') {
        const why = notTested ?? `not tested: ${first.untested}`;
        detail = `The provider was ${why}. Nothing shows it healthy or failing, so the runbook offers no mitigation. Check it by hand (the document's curl with a valid key, status.anthropic.com), mitigate what needs it, then mark done; skip if there is nothing to do. The recovery check follows either way.`;
        await tell(`LLM provider incident on ${where}: ${why}. A responder must check the provider by hand`);
      } else if (diagnosis.branch === 'misconfigured') {
        detail = `Test requests are still refused after the fix (${describeRefusal(probes.slice(-p.probeRequests)) || 'see the findings'}): this runbook's probeModel ("${p.probeModel}") is fixed for this incident. Check by hand, then mark done.`;
      } else {
        // Degraded quality or an app-side signal with no branch: responders look into it.
        detail = `${rb.state.findings[0]?.summary ?? ''}. ${severity ? 'Investigate' : 'The provider answers: look for the cause in the app'}, then mark done.`;
      }
      const handled = await rb.gate('manual-mitigation', { kind: 'manual', detail, deadlineMs });
      rb.note('manual-mitigation', handled ? `${handled.by}: ${handled.decision}` : 'withdrawn');
      if (handled?.decision === 'done') qualityReported = false;
    } else {
      rb.skip('manual-mitigation', plan.length ? 'mitigations offered' : 'recovered');
    }
  }

  /** True when the retry came back healthy; the observation may raise the severity. */
  function settled(o: Observation, step: string | null): boolean {
    raise(o.classification);
    const c = o.classification;
    if (step)
      rb.note(
        step,
        c.verdict === 'healthy'
          ? 'the API answers again'
          : c.verdict === 'not_tested'
            ? `no answer to judge: ${c.reasons.join('; ')}`
            : `still failing: ${c.reasons.join('; ')}`,
      );
    return c.verdict === 'healthy';
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
      keepReason: 'a compromised key stays revoked',
    });
    await mitigations.apply({
      step: 'rotate-key',
      temporary: false,
      detail: 'Generate a new key and deploy it to all environments (the configured rotate-key command, else by hand).',
      deadlineMs,
      vars,
      keepReason: 'the new key replaces the compromised one',
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
      if (!audit.available) rb.unavailable('audit-usage', `usage audit unavailable: ${audit.reason}`);
    });
    // Filed once the postmortem is stored (after the recovery check), not before.
    rb.note('incident-report', 'waiting: filed with the postmortem once the recovery check has ended');
  }

  /** Probe rounds over the recovery window until one holds, or a responder decides for one without data. */
  async function recover(from?: LlmProviderCarry): Promise<Recovery> {
    rb.setStatus('validating');
    return rb.step('recovery-check', async () => {
      const windowMs = toMs(p.recoveryWindow);
      const intervalMs = toMs(p.recoveryInterval);
      let told = from?.told ?? false;
      if (from) await sleep(intervalMs, { summary: `recovery window ${from.nextWindow}` });
      for (let n = from?.nextWindow ?? 1; ; n++) {
        const w = await holdWindow(n, windowMs, intervalMs);
        if (w.verdict === 'passed') {
          rb.note('recovery-check', w.reason);
          return { recovered: true, reason: w.reason };
        }
        if (w.verdict === 'failed') {
          // Still failing: the provider has not recovered. Nothing is undone; the next window starts.
          const next = `the mitigations stay in place; window ${n + 1} starts with the next probe in ${formatMs(intervalMs)}`;
          rb.note('recovery-check', `window ${n} failed: ${w.reason}; ${next}`);
          rb.record('recovery_window_failed', `window ${n} failed: ${w.reason}; ${next}`, w, 'recovery-check');
          if (!told) {
            told = true;
            await tell(
              `LLM provider on ${where} still failing during recovery (${w.reason}). The runbook keeps the mitigations and probes every ${formatMs(intervalMs)}; it undoes them only after ${formatMs(windowMs)} of healthy probes. On-call decides whether more is needed`,
            );
          }
          // A provider down for days fails a window every interval: the next run takes over before
          // this history grows past what Temporal keeps.
          if (rb.historyLong(p.historyEventLimit) && patched(CONTINUE_PATCH)) await continueFrom(n + 1, told);
          await sleep(intervalMs, { summary: `recovery window ${n + 1}` });
          continue;
        }
        rb.note('recovery-check', `window ${n}: insufficient data: ${w.reason}`);
        rb.record('recovery_insufficient_data', `window ${n}: insufficient data: ${w.reason}`, w, 'recovery-check');
        await tell(
          `LLM provider on ${where}: the recovery window had insufficient data (${w.reason}). A responder must decide recovery-check: confirm (recovered, confirmed by hand), extend (hold the window again) or escalate (keep the mitigations, page the next tier)`,
        );
        const answer = await rb.gate('recovery-check', {
          kind: 'manual',
          decisions: ['confirm', 'extend', 'escalate'],
          detail: `Recovery window ${n}: insufficient data: ${w.reason}. Nothing shows the API recovered. confirm: you confirmed it recovered by other means; the mitigations are undone. extend: hold the ${formatMs(windowMs)} window again. escalate: keep the mitigations in place and page the next tier.`,
          deadlineMs,
        });
        const comment = answer?.comment ? `: "${answer.comment}"` : '';
        if (answer?.decision === 'extend') {
          rb.note('recovery-check', `window ${n}: insufficient data; ${answer.by} extended it${comment}`);
          continue;
        }
        if (answer?.decision === 'confirm') {
          const reason = `insufficient data (${w.reason}); confirmed recovered by ${answer.by}${comment}`;
          rb.note('recovery-check', reason);
          return { recovered: true, reason, confirmedBy: answer.by };
        }
        const reason = `insufficient data (${w.reason}); ${answer ? `${answer.by} kept the mitigations in place and escalated${comment}` : 'not judged'}`;
        rb.unavailable('recovery-check', reason);
        rb.setStatus('escalated');
        await rb.escalate(`LLM provider recovery not confirmed on ${where}: ${w.reason}; mitigations left in place`, 2);
        return { recovered: false, reason };
      }
    });
  }

  /** Ends this run and starts the next from recovery window `nextWindow`, carrying the incident. */
  async function continueFrom(nextWindow: number, told: boolean): Promise<never> {
    const runbook = await rb.carry();
    const { continued: _, ...rest } = input;
    return continueAsNew<typeof llmProviderIncident>({
      ...rest,
      continued: {
        runbook,
        mitigations: mitigations.carry(),
        startedMs,
        severity,
        notTested,
        acknowledged,
        ackStarted,
        qualityReported,
        probes,
        probeTotals,
        read,
        unread,
        nextWindow,
        told,
      },
    });
  }

  /**
   * One recovery window: a probe round now and every interval until the window has passed. It holds
   * only when every round answered healthy; a failing round fails it, a round without data (no key,
   * every request refused as malformed) ends it insufficient_data.
   */
  async function holdWindow(n: number, windowMs: number, intervalMs: number): Promise<WindowVerdict> {
    const started = Date.now();
    for (let round = 1; ; round++) {
      const o = await observe(p.probeRequests);
      raise(o.classification);
      const c = o.classification;
      const elapsed = Date.now() - started;
      const text = c.verdict === 'healthy' ? 'healthy' : c.reasons.join('; ');
      rb.note('recovery-check', `window ${n}, probe ${round}: ${text} (${formatMs(elapsed)} of ${formatMs(windowMs)})`);
      rb.record('recovery_probe', text, c, 'recovery-check');
      if (c.verdict === 'not_tested')
        return { verdict: 'insufficient_data', reason: `probe ${round} of window ${n} had no data: ${text}` };
      if (c.verdict === 'incident') return { verdict: 'failed', reason: `probe ${round}: ${text}` };
      if (elapsed >= windowMs)
        return {
          verdict: 'passed',
          reason: `held: all ${round} probe rounds healthy over ${formatMs(elapsed)} (window ${formatMs(windowMs)}, a round every ${formatMs(intervalMs)})`,
        };
      await sleep(intervalMs, { summary: `recovery window ${n}: probe ${round + 1}` });
    }
  }

  async function finish(recovery: Recovery): Promise<RunbookResult> {
    closing = true;
    rb.setStatus('follow_up');
    const diagnosis: Diagnosis = rb.state.diagnosis ?? { primary: 'unknown', causes: [] };
    const applied = rb.state.mitigations
      .filter((m) => m.status === 'applied' || m.status === 'undone')
      .map((m) => m.step);
    const resolution = !recovery.recovered
      ? `not confirmed recovered: ${recovery.reason}; ${applied.length ? `mitigations ${applied.join(', ')} left in place` : 'no mitigation applied'}`
      : `${recovery.confirmedBy ? `recovered (confirmed by ${recovery.confirmedBy} without probe data)` : 'recovered'}${
          applied.length ? `; mitigations ${applied.join(', ')} undone` : ' without mitigation'
        }`;
    rb.state.resolution = resolution;
    const actionItems = actionItemsFor(diagnosis.primary);
    const severityText = severity ?? (notTested ? `unknown (${notTested})` : 'none');
    await rb.step('postmortem', async () => {
      const postmortem = renderPostmortem({
        title: `${where}: ${diagnosis.primary.replace(/_/g, ' ')}`,
        startedAt: rb.state.startedAt,
        endedAt: new Date().toISOString(),
        severity: severityText,
        impact: impact(),
        rootCause:
          diagnosis.primary === 'not_tested'
            ? `unknown: the provider was ${notTested ?? 'not tested'}`
            : (diagnosis.causes[0]?.evidence.join('; ') ?? diagnosis.primary),
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
    if (keyCompromise)
      await rb.step('incident-report', async () => {
        rb.note('incident-report', 'filed: the postmortem is stored with the incident');
      });
    await ackLoop;
    if (rb.state.steps.find((s) => s.id === 'acknowledge')?.status === 'pending') {
      if (ackStarted) rb.fail('acknowledge', 'nobody acknowledged the page before the incident closed');
      else rb.skip('acknowledge', 'no severity was established: nothing to acknowledge');
    }
    rb.setStatus(recovery.recovered ? 'resolved' : 'escalated');
    await rb.flush();
    return { status: rb.state.status, diagnosis: rb.state.diagnosis, resolution };
  }

  function requestIds(): string[] {
    return [...new Set(probes.filter((r) => r.outcome !== 'ok' && r.requestId).map((r) => r.requestId as string))];
  }

  function impact(): string {
    const between = `between ${rb.state.startedAt} and ${new Date().toISOString()} (${Math.round((Date.now() - startedMs) / 60_000)} minutes)`;
    if (!probeTotals.sent) return `unknown: no test request was sent (${notTested ?? 'not configured'}) ${between}`;
    return `${probeTotals.failed} of ${probeTotals.sent} test requests failed ${between}; severity ${severity ?? (notTested ? 'unknown' : 'none')}`;
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
    misconfigured: ["Check configured model ids against the provider's model list before they ship"],
    not_tested: ['Give the runbook what it needs to test the provider (ANTHROPIC_API_KEY on the worker)'],
  };
  return [
    ...(items[primary] ?? ['Review detection for degraded quality']),
    'Add a regression test for this failure mode',
  ];
}
