// API Error Budget Runbook — related alert: API Error Rate (5xx > 1 %).
// Follows the document section by section: immediate actions, diagnostics, mitigation,
// validation, post-incident tasks. A step is done only with data to show for it; a human
// acknowledges the page; no error signal is no diagnosis; the window holds for its whole length.
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { Observed } from '../../activities/http';
import type { RouteSeries } from '../../activities/prometheus';
import type { RunbookInput, RunbookResult } from '../definitions';
import { scheduleFollowUp } from '../follow-up';
import { apiErrorBudgetV1 } from '../legacy/api-error-budget.v1';
import { formatMs, toMs } from '../toolkit/duration';
import { holdWindow, type HoldResult } from '../toolkit/hold-window';
import { Mitigations } from '../toolkit/mitigations';
import { recordPostIncident } from '../toolkit/post-incident';
import { Runbook } from '../toolkit/runbook';
import { diagnose, judgeChanges, mitigationPlan, type Evidence, type JudgedChange } from './api-error-budget.diagnose';
import { API_ERROR_BUDGET_DEFAULTS, type ApiErrorBudgetParams } from './api-error-budget.params';
import { API_ERROR_BUDGET_STEPS, MITIGATION } from './api-error-budget.steps';

/** Mitigations that change something only for the incident's duration, and so are undone. */
const TEMPORARY = new Set(['degraded-mode', 'replica-failover', 'raise-concurrency', 'circuit-breaker-queue']);
/** Why the others stay once the incident ends: named in the removal step. */
const KEPT_BECAUSE: Record<string, string> = {
  'rollback-deploy': 'the previous version stays until a fixed one ships',
  'restore-secret': 'the restored secret is the one that works',
  'migration-rollback': 'the schema stays rolled back until the migration is fixed',
};
/** Causes that expose a systemic issue (missing retries, poor backoff) and so get a design review. */
const SYSTEMIC = new Set(['third_party_outage', 'rate_limiting', 'database_errors']);

// Diagnostics report an unreachable source as a finding rather than throw, so a few attempts do.
const act = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});
export async function apiErrorBudget(input: RunbookInput<Partial<ApiErrorBudgetParams>>): Promise<RunbookResult> {
  // Incidents started before claims needed evidence replay on the code they started with.
  if (!patched('api-error-budget-evidence')) return apiErrorBudgetV1(input);
  const p: ApiErrorBudgetParams = { ...API_ERROR_BUDGET_DEFAULTS, ...input.params };
  const rb = new Runbook({ ...input, params: { ...p } }, API_ERROR_BUDGET_STEPS);
  const mitigations = new Mitigations(rb);
  const scope = {
    service: input.service,
    environment: input.environment,
    ...(input.drill?.prometheusUrl ? { source: input.drill.prometheusUrl } : {}),
  };
  const startedMs = Date.now();
  // The incident began when the alert did: "the past hour" and "errors rose after" are measured from it.
  const alertStartMs = Math.min(startedMs, Date.parse(input.alert?.startsAt ?? '') || startedMs);
  const deadlineMs = toMs(p.approvalDeadline);
  const pct = (r: number | null) => (r === null ? 'no traffic' : `${(r * 100).toFixed(2)}%`);
  let closing = false;
  let ack: Promise<void> = Promise.resolve();

  try {
    // 1. Immediate Actions
    ack = acknowledge();
    // Awaited at the end; a cancellation meanwhile is the runbook's to handle, not an unhandled rejection.
    ack.catch(() => undefined);
    await rb.step('capture-start', async () => {
      const since = new Date(alertStartMs).toISOString();
      const from = input.alert ? `alert ${input.alert.alertname} fired` : `started by ${input.startedBy}`;
      rb.note('capture-start', `${from} at ${since} in ${input.environment}`);
      rb.finding({
        step: 'capture-start',
        level: 'info',
        summary: `incident started ${since} in ${input.environment}`,
        evidence: { startedAt: since, environment: input.environment },
      });
    });
    await rb.step('pause-deploys', async () => {
      const window = await act.releaseWindow.executeWithOptions({ summary: 'inside the release window?' }, []);
      if (!window.inside) return rb.note('pause-deploys', 'outside the release window: deploys left running');
      const outcome = await mitigations.runApproved('pause-deploys', true, 'release window policy');
      rb.note('pause-deploys', `${window.window}: ${outcome}`);
      if (outcome !== 'applied') rb.fail('pause-deploys', `${window.window}: deploys NOT paused (${outcome})`);
    });

    // 2. Diagnostics
    rb.setStatus('diagnosing');
    const windowStart = alertStartMs - 15 * 60_000;
    const routes = await rb.step('dashboard-review', async () => {
      const r = await act.errorRatioByRoute.executeWithOptions({ summary: '5xx ratio per route (Prometheus)' }, [
        scope,
      ]);
      if (!r.available || r.data.length === 0) {
        // No series at all is no traffic to judge: not a route "below the threshold".
        const none = r.available ? { available: false as const, reason: 'no traffic on any route', query: r.query } : r;
        rb.sourceUnavailable('dashboard-review', `Prometheus: ${none.reason}`, { query: r.query });
        return none;
      }
      const elevated = r.data.filter((x) => x.ratio > p.alertThreshold);
      const summary = elevated.length
        ? `elevated 5xx on ${elevated.map((x) => `${x.route} ${pct(x.ratio)}`).join(', ')}`
        : `no route above ${pct(p.alertThreshold)}`;
      rb.note('dashboard-review', summary);
      rb.finding({
        step: 'dashboard-review',
        level: elevated.length ? 'critical' : 'info',
        summary,
        evidence: { query: r.query, routes: r.data },
      });
      return r;
    });
    const elevated = routes.available ? routes.data.filter((x) => x.ratio > p.alertThreshold).map((x) => x.route) : [];
    const traces = await rb.step('trace-inspection', async () => {
      const t = await act.errorTraces.executeWithOptions({ summary: 'error traces on elevated routes' }, [
        { ...scope, routes: elevated, startMs: windowStart, endMs: Date.now() },
      ]);
      if (!t.available) {
        rb.sourceUnavailable('trace-inspection', `traces: ${t.reason}`, null);
        return t;
      }
      const summary = t.data.length
        ? t.data
            .slice(0, 3)
            .map((x) => `${x.route}: ${x.exceptionType} ×${x.count}`)
            .join('; ')
        : 'no error traces';
      rb.note('trace-inspection', summary);
      rb.finding({ step: 'trace-inspection', level: t.data.length ? 'warning' : 'info', summary, evidence: t.data });
      return t;
    });
    const logs = await rb.step('error-logs', async () => {
      const l = await act.errorLogs.executeWithOptions({ summary: 'error logs (Loki)' }, [
        { ...scope, routes: elevated, startMs: windowStart, endMs: Date.now() },
      ]);
      if (!l.available) {
        rb.sourceUnavailable('error-logs', `logs: ${l.reason}`, { query: l.query });
        return l;
      }
      const correlated = [
        ...l.data.tenants.map((t) => ({ ...t, kind: 'tenant' })),
        ...l.data.flags.map((f) => ({ ...f, kind: 'flag' })),
      ].filter((x) => x.share >= 0.5);
      const summary =
        `${l.data.lines} error lines` +
        (correlated.length
          ? `; correlated with ${correlated.map((x) => `${x.kind} ${x.name} (${Math.round(x.share * 100)}%)`).join(', ')}`
          : '; no tenant or flag correlation');
      rb.note('error-logs', summary);
      rb.finding({
        step: 'error-logs',
        level: l.data.lines ? 'warning' : 'info',
        summary,
        evidence: { query: l.query, ...l.data },
      });
      return l;
    });
    const { dependencies, providers } = await rb.step('dependency-check', async () => {
      const [deps, prov] = await Promise.all([
        act.dependencyHealth.executeWithOptions({ summary: 'Postgres and Redis health' }, []),
        act.providerStatus.executeWithOptions({ summary: 'downstream status pages' }, []),
      ]);
      const unconfigured = (d: { detail: string }) => /not configured/.test(d.detail);
      const bad = deps.filter((d) => !d.reachable && !unconfigured(d));
      const degraded = prov.filter((s) => s.available && s.data.indicator !== 'none');
      const summary = [
        ...deps.map((d) =>
          unconfigured(d) ? `${d.name}: ${d.detail}` : `${d.name}: ${d.reachable ? 'ok' : 'DOWN'} (${d.detail})`,
        ),
        ...(prov.length ? [] : ['status pages: none configured']),
        ...prov.map((s) =>
          s.available ? `${s.data.name}: ${s.data.indicator} ${s.data.description}` : `status page: ${s.reason}`,
        ),
      ].join('; ');
      const read = deps.some((d) => !unconfigured(d)) || prov.some((s) => s.available);
      if (read) rb.note('dependency-check', summary);
      else rb.unavailable('dependency-check', summary);
      rb.finding({
        step: 'dependency-check',
        level: bad.length || degraded.length ? 'critical' : read ? 'info' : 'unavailable',
        summary,
        evidence: { dependencies: deps, providers: prov },
      });
      return { dependencies: deps, providers: prov };
    });
    const changes = await rb.step('recent-changes', () => recentChanges());
    const evidence: Evidence = { routes, traces, logs, dependencies, providers, changes };
    const diagnosis = await rb.step('diagnosis', async () => {
      const d = diagnose(evidence, { alertThreshold: p.alertThreshold });
      rb.state.diagnosis = d;
      const unread = d.sources?.unread.map((u) => `${u.source} (${u.reason})`).join(', ');
      rb.note(
        'diagnosis',
        d.primary === 'insufficient_data'
          ? `insufficient data: no error signal in ${d.sources?.read.join(', ') || 'any source'}${unread ? `; not read: ${unread}` : ''}`
          : d.causes.length
            ? d.causes.map((c) => `${c.cause} (${c.score})`).join(', ')
            : 'unknown: errors, but no cause stands out',
      );
      rb.record('diagnosis', `diagnosis: ${d.primary}`, d);
      // No signal, no diagnosis: the step could not do what it says.
      if (d.primary === 'insufficient_data')
        rb.unavailable('diagnosis', rb.state.steps.find((x) => x.id === 'diagnosis')?.note ?? d.primary);
      return d;
    });

    // 3. Mitigation Steps, then 4. Validation, offering the next mitigation while validation fails.
    const judged = changes.available ? changes.data : [];
    const plan = mitigationPlan(diagnosis, judged);
    for (const step of API_ERROR_BUDGET_STEPS.filter((s) => s.section === MITIGATION && s.kind === 'approval')) {
      if (!plan.includes(step.id)) rb.skip(step.id, `not indicated by the diagnosis (${diagnosis.primary})`);
    }
    let attempt = 0;
    // A failed window pages the next tier itself: mitigation by hand right after it does not page again.
    let pagedByWindow = false;
    let held: HoldResult;
    for (;;) {
      const next = plan.shift();
      if (next) {
        const cause = diagnosis.causes.find((c) => c.cause === causeOf(next));
        const outcome = await mitigations.apply({
          step: next,
          temporary: TEMPORARY.has(next),
          detail: proposalText(cause?.evidence ?? []),
          vars: cause?.vars,
          keepReason: KEPT_BECAUSE[next],
          deadlineMs,
          withdrawWhen: () => rb.alertResolved,
          after: afterMitigation(next),
        });
        if (outcome === 'rejected' || outcome === 'failed') continue;
      } else {
        await mitigateByHand(pagedByWindow ? 0 : ++attempt);
      }
      held = await validate();
      if (held.verdict === 'passed') break;
      // Never a silent second window: the next mitigation, or responders by hand, are asked first.
      rb.setStatus('escalated');
      const then = plan[0] ? `${plan[0]} waits for approval` : 'responders mitigate by hand (manual-mitigation)';
      rb.note('validate-error-ratio', `${held.reason}. Next: ${then}`);
      await rb.escalate(`validation failed (${held.reason}); next: ${then}`, ++attempt);
      pagedByWindow = true;
    }
    // Every step ends with an outcome: what the held window made unnecessary says so.
    for (const id of [...plan, 'manual-mitigation'])
      if (rb.state.steps.find((x) => x.id === id)?.status === 'pending') rb.skip(id, 'not needed: the window held');
    await mitigations.removeTemporary('remove-temporary-mitigations', 'stability confirmed');

    // 5. Post-Incident Tasks
    rb.setStatus('follow_up');
    const systemic = diagnosis.causes.some((c) => SYSTEMIC.has(c.cause));
    const followUps = [
      `Add regression/unit tests that reproduce the failure scenario (${diagnosis.primary})`,
      ...(systemic
        ? [`Schedule design review: ${diagnosis.primary} exposed a systemic issue (retries, backoff, limits)`]
        : []),
    ];
    const handBy = (rb.state.steps.find((s) => s.id === 'manual-mitigation')?.decisions ?? [])
      .filter((d) => d.decision === 'done')
      .pop();
    const resolution = resolutionText(
      rb.state.mitigations.filter((m) => m.status === 'applied' || m.status === 'undone').map((m) => m.step),
      rb.alertResolved,
      handBy ? `${handBy.by}${handBy.comment ? ` (${handBy.comment})` : ''}` : undefined,
      held.confirmedBy,
    );
    rb.state.resolution = resolution;
    await rb.step('document', async () => {
      const report = {
        rootCause: diagnosis.causes.length
          ? `${diagnosis.primary}: ${diagnosis.causes[0].evidence.join('; ')}`
          : handBy?.comment
            ? `${handBy.comment} (by ${handBy.by})`
            : `${diagnosis.primary}: not established by the diagnostics`,
        impact: impactText(rb.state.findings, startedMs),
        resolution,
        followUps,
      };
      await recordPostIncident(input.runbook, report, toMs(p.followUpAfter));
      rb.note('document', `root cause: ${report.rootCause}`.slice(0, 300));
    });
    const followUpId = `followup/${workflowInfo().workflowId}/${workflowInfo().runId}`;
    await rb.step('regression-tests', async () => {
      await scheduleFollowUp(input, followUps, toMs(p.followUpAfter));
      rb.note('regression-tests', `on follow-up ${followUpId}, due in ${formatMs(toMs(p.followUpAfter))}`);
    });
    if (systemic) {
      await rb.step('design-review', async () =>
        rb.note('design-review', `on follow-up ${followUpId}, due in ${formatMs(toMs(p.followUpAfter))}`),
      );
    } else {
      rb.skip('design-review', 'no systemic issue exposed');
    }

    closing = true;
    await ack;
    rb.setStatus('resolved');
    await rb.flush();
    return { status: rb.state.status, diagnosis: rb.state.diagnosis, resolution };
  } catch (err) {
    closing = true;
    return await mitigations.abandon(err);
  }

  /** Pages on-call now and waits for a human's acknowledgement; a missed deadline pages the next tier. */
  async function acknowledge(): Promise<void> {
    const within = toMs(p.acknowledgeWithin);
    const what = `${input.alert?.alertname ?? 'API error rate'} on ${input.service} (${input.environment})`;
    const sent = await rb.escalate(`${what}: acknowledge within ${formatMs(within)}`, 1);
    rb.note(
      'acknowledge',
      sent.delivered.length
        ? `paged ${sent.delivered.join(', ')}; waiting for a human to acknowledge`
        : `page NOT delivered (${[...sent.failed, ...sent.skipped].join('; ') || 'no target'}); waiting for a human to acknowledge`,
    );
    const d = await rb.gate('acknowledge', {
      kind: 'manual',
      decisions: ['acknowledge'],
      detail: `${what}: acknowledge within ${formatMs(within)}`,
      deadlineMs: within,
      escalateFrom: 2,
      withdrawWhen: () => closing,
    });
    if (d) rb.note('acknowledge', `acknowledged by ${d.by}`);
    else rb.fail('acknowledge', 'nobody acknowledged the page while the runbook ran');
  }

  /** Changes in the hour before the alert, each judged: did the 5xx ratio rise after it? */
  async function recentChanges(): Promise<Observed<JudgedChange[]>> {
    const windowMs = toMs(p.recentChangesWindow);
    const r = await act.recentChanges.executeWithOptions(
      { summary: `changes in the ${formatMs(windowMs)} before the alert` },
      [{ ...scope, fromMs: alertStartMs - windowMs, toMs: Date.now() }],
    );
    if (!r.available) {
      rb.sourceUnavailable('recent-changes', `change events: ${r.reason}`, null);
      return r;
    }
    const baselineMs = toMs(p.changeBaseline);
    let series: Observed<RouteSeries[]> = { available: false, reason: 'not read: no change to judge' };
    if (r.data.length) {
      const startMs = Math.min(...r.data.map((c) => Date.parse(c.at))) - baselineMs;
      const endMs = Date.now();
      series = await act.errorRatioSeries.executeWithOptions({ summary: '5xx per route around the changes' }, [
        { ...scope, startMs, endMs, stepMs: Math.max(1000, (endMs - startMs) / 300) },
      ]);
    }
    const judged = judgeChanges(r.data, series, { alertStartMs, alertThreshold: p.alertThreshold, baselineMs });
    const summary = judged.length
      ? judged.map((c) => `${c.rose ? 'COUNTS' : c.rose === null ? 'cannot tell' : 'not a cause'}: ${c.why}`).join('; ')
      : `no changes in the ${formatMs(windowMs)} before the alert`;
    rb.note('recent-changes', summary.slice(0, 500));
    rb.finding({
      step: 'recent-changes',
      level: judged.some((c) => c.rose) ? 'warning' : 'info',
      summary,
      evidence: { changes: judged, query: series.query },
    });
    return { available: true, data: judged };
  }

  /**
   * No mitigation of the runbook's left: responders are paged (`level` 0: already paged) and asked,
   * and the incident stays open until they act.
   */
  async function mitigateByHand(level: number): Promise<void> {
    rb.setStatus('escalated');
    const why =
      diagnosis().primary === 'insufficient_data'
        ? 'no error signal in the sources read: confirm the alert and mitigate by hand'
        : `no mitigation left for ${diagnosis().primary}: responders must mitigate by hand`;
    if (level) await rb.escalate(why, level);
    let handled = await rb.gate('manual-mitigation', {
      kind: 'manual',
      detail: `${why}. Mark done once mitigated to start the validation window; skip leaves the incident open until the alert resolves or someone marks it done.`,
      deadlineMs,
    });
    if (handled?.decision === 'skip') {
      rb.note(
        'manual-mitigation',
        `skipped by ${handled.by}: open until the alert resolves or a responder marks it done`,
      );
      handled = await rb.gate('manual-mitigation', {
        kind: 'manual',
        decisions: ['done'],
        detail: 'Left open: mark done once mitigated by hand; the validation window then starts.',
        deadlineMs,
        withdrawWhen: () => rb.alertResolved,
      });
      if (!handled) rb.note('manual-mitigation', 'the alert resolved: validating');
    }
  }

  function diagnosis() {
    return rb.state.diagnosis ?? { primary: 'unknown', causes: [] };
  }

  async function validate(): Promise<HoldResult> {
    rb.setStatus('validating');
    const windowMs = toMs(p.validationWindow);
    const from = Date.now();
    const window = await rb.step('validate-error-ratio', async () => {
      const result = await holdWindow(rb, 'validate-error-ratio', {
        windowMs,
        intervalMs: toMs(p.validationInterval),
        failAfterBreaches: p.failAfterBreaches,
        deadlineMs,
        check: async () => {
          const r = await act.errorRatio.executeWithOptions({ summary: '5xx ratio now' }, [scope]);
          if (!r.available) return { value: null, breach: false, summary: `5xx ratio unavailable: ${r.reason}` };
          if (r.data === null) return { value: null, breach: false, summary: 'no traffic: no 5xx ratio to judge' };
          return {
            value: r.data,
            breach: r.data > p.alertThreshold,
            summary: `5xx ${pct(r.data)} (alert above ${pct(p.alertThreshold)})`,
          };
        },
        whole: async (ms) => {
          const r = await act.errorRatioOver.executeWithOptions({ summary: `5xx ratio over ${formatMs(ms)}` }, [
            { ...scope, windowMs: ms },
          ]);
          if (!r.available) return { value: null, enoughData: false, ok: false, summary: `unavailable: ${r.reason}` };
          const { ratio, requests } = r.data;
          return {
            value: ratio,
            enoughData: requests >= p.minValidationRequests,
            ok: ratio !== null && ratio < p.validationThreshold,
            summary: `5xx ${pct(ratio)} of ${requests} requests (target < ${pct(p.validationThreshold)}, at least ${p.minValidationRequests} requests)`,
          };
        },
      });
      if (result.verdict === 'passed') rb.note('validate-error-ratio', result.reason);
      else rb.fail('validate-error-ratio', result.reason);
      return result;
    });
    if (window.verdict !== 'passed') {
      rb.skip('validate-logs', 'the error ratio did not hold');
      return window;
    }
    const logs = await rb.step('validate-logs', async () => {
      const spikes = await act.logSpikes.executeWithOptions({ summary: 'new error spikes in logs?' }, [
        { ...scope, startMs: from, endMs: Date.now(), bucketMs: toMs(p.validationInterval), factor: p.logSpikeFactor },
      ]);
      if (!spikes.available) {
        rb.unavailable('validate-logs', `logs unavailable (${spikes.reason}): judged on the 5xx ratio alone`);
        return window;
      }
      if (spikes.data.spike) {
        const reason = `new error spike: ${spikes.data.peak} lines in ${formatMs(toMs(p.validationInterval))} (median ${spikes.data.median})`;
        rb.fail('validate-logs', reason);
        return { verdict: 'failed' as const, reason };
      }
      rb.note(
        'validate-logs',
        `${spikes.data.lines} error lines, peak ${spikes.data.peak} per ${formatMs(toMs(p.validationInterval))}, no spike`,
      );
      return window;
    });
    return logs;
  }

  function afterMitigation(step: string): (() => Promise<void>) | undefined {
    if (step === 'restore-secret') {
      return async () => {
        const checks = await act.checkOtelEndpoints.executeWithOptions(
          { summary: 'OTEL_EXPORTER_OTLP_* reachable?' },
          [],
        );
        const down = checks.filter((c) => !c.reachable);
        rb.finding({
          step,
          level: down.length ? 'critical' : 'info',
          summary: checks.length
            ? `OTLP endpoints: ${checks.map((c) => `${c.url} ${c.reachable ? 'reachable' : `UNREACHABLE (${c.detail})`}`).join(', ')}`
            : 'no OTEL_EXPORTER_OTLP_* endpoints configured to check',
          evidence: checks,
        });
      };
    }
    if (step === 'degraded-mode') {
      return async () => {
        const sent = await act.notify.executeWithOptions({ summary: 'tell customer success' }, [
          {
            target: 'customerSuccess',
            text: `Degraded mode is on for ${input.service} (${input.environment}) during a third-party outage. Some features are bypassed until the provider recovers.`,
          },
        ]);
        const told = sent.delivered.length
          ? `customer success told: ${sent.delivered.join(', ')}`
          : `customer success NOT told: ${[...sent.failed, ...sent.skipped].join('; ') || 'no target'}`;
        rb.record('notified', told, sent, step);
        rb.note(step, `${rb.state.steps.find((x) => x.id === step)?.note ?? ''}; ${told}`);
      };
    }
    return undefined;
  }
}

function causeOf(step: string): string {
  const map: Record<string, string> = {
    'rollback-deploy': 'deployment_regression',
    'restore-secret': 'config_drift',
    'degraded-mode': 'third_party_outage',
    'migration-rollback': 'database_errors',
    'replica-failover': 'database_errors',
    'raise-concurrency': 'rate_limiting',
    'circuit-breaker-queue': 'rate_limiting',
  };
  return map[step] ?? 'unknown';
}

function proposalText(evidence: string[]): string {
  return `Proposed because: ${evidence.join('; ') || 'the previous mitigation did not hold'}`.slice(0, 500);
}

function resolutionText(applied: string[], alertResolved: boolean, byHand?: string, confirmedBy?: string): string {
  const how = [
    ...(applied.length ? [`mitigated by ${applied.join(', ')}`] : []),
    ...(byHand ? [`mitigated by hand by ${byHand}`] : []),
    ...(!applied.length && !byHand && alertResolved ? ['the alert resolved before any mitigation'] : []),
  ];
  const window = confirmedBy
    ? `the validation window had too little data and ${confirmedBy} confirmed it by hand`
    : 'validation held';
  return `${how.join('; ') || 'no mitigation'}; ${window}`;
}

function impactText(findings: { step: string; evidence: unknown }[], startedMs: number): string {
  const dash = findings.find((f) => f.step === 'dashboard-review')?.evidence as
    { routes?: { route: string; ratio: number }[] } | undefined;
  const worst = dash?.routes?.[0];
  const minutes = Math.round((Date.now() - startedMs) / 60_000);
  return (
    `${minutes} minutes from start to resolution` +
    (worst ? `; worst route ${worst.route} at ${(worst.ratio * 100).toFixed(2)}% 5xx` : '') +
    (dash?.routes?.length ? `; ${dash.routes.filter((r) => r.ratio > 0).length} routes with errors` : '')
  );
}
