// The API Error Budget runbook as released before its claims needed evidence (a bot post as the
// acknowledgement, a deploy alone as a diagnosis, the last sample as the window). Frozen: incidents
// started on it replay through it (apiErrorBudget's `patched` check). Delete once none run.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { DecisionInput, RunbookInput, RunbookResult } from '../definitions';
import { scheduleFollowUp } from '../follow-up';
import { formatMs, toMs } from '../toolkit/duration';
import { Mitigations } from '../toolkit/mitigations';
import { recordPostIncident } from '../toolkit/post-incident';
import { Runbook } from '../toolkit/runbook';
import { validationWindow } from '../toolkit/validation';
import { diagnose, mitigationPlan, type Evidence } from './api-error-budget.v1.diagnose';
import { API_ERROR_BUDGET_DEFAULTS, type ApiErrorBudgetParams } from '../runbooks/api-error-budget.params';
import { API_ERROR_BUDGET_STEPS, MITIGATION } from '../runbooks/api-error-budget.steps';

/** Mitigations that change something only for the incident's duration, and so are undone. */
const TEMPORARY = new Set(['degraded-mode', 'replica-failover', 'raise-concurrency', 'circuit-breaker-queue']);
/** Causes that expose a systemic issue (missing retries, poor backoff) and so get a design review. */
const SYSTEMIC = new Set(['third_party_outage', 'rate_limiting', 'database_errors']);

// Diagnostics report an unreachable source as a finding rather than throw, so a few attempts do.
const act = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});
export async function apiErrorBudgetV1(input: RunbookInput<Partial<ApiErrorBudgetParams>>): Promise<RunbookResult> {
  const p: ApiErrorBudgetParams = { ...API_ERROR_BUDGET_DEFAULTS, ...input.params };
  const rb = new Runbook({ ...input, params: { ...p } }, API_ERROR_BUDGET_STEPS);
  const mitigations = new Mitigations(rb);
  const scope = { service: input.service, environment: input.environment };
  const startedMs = Date.now();
  const deadlineMs = toMs(p.approvalDeadline);
  const pct = (r: number | null) => (r === null ? 'no traffic' : `${(r * 100).toFixed(2)}%`);

  try {
    // 1. Immediate Actions
    await rb.step('acknowledge', async () => {
      const sent = await act.notify.executeWithOptions({ summary: 'acknowledge in Slack #oncall' }, [
        {
          target: 'oncall',
          text: `:eyes: Acknowledged: ${input.alert?.alertname ?? 'API error rate'} on ${input.service} (${input.environment}). Runbook api-error-budget is diagnosing: ${workflowInfo().workflowId}`,
        },
      ]);
      rb.note('acknowledge', sent.delivered.join(', ') || `not sent: ${[...sent.failed, ...sent.skipped].join('; ')}`);
    });
    await rb.step('capture-start', async () => {
      const since = input.alert?.startsAt ?? rb.state.startedAt;
      rb.note('capture-start', `started ${since} in ${input.environment}`);
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
    });

    // 2. Diagnostics
    rb.setStatus('diagnosing');
    const windowStart = Math.min(startedMs, Date.parse(input.alert?.startsAt ?? '') || startedMs) - 15 * 60_000;
    const routes = await rb.step('dashboard-review', async () => {
      const r = await act.errorRatioByRoute.executeWithOptions({ summary: '5xx ratio per route (Prometheus)' }, [
        scope,
      ]);
      if (!r.available) {
        rb.finding({ step: 'dashboard-review', level: 'unavailable', summary: r.reason, evidence: { query: r.query } });
        return [];
      }
      const elevated = r.data.filter((x) => x.ratio > p.alertThreshold);
      rb.finding({
        step: 'dashboard-review',
        level: elevated.length ? 'critical' : 'info',
        summary: elevated.length
          ? `elevated 5xx on ${elevated.map((x) => `${x.route} ${pct(x.ratio)}`).join(', ')}`
          : `no route above ${pct(p.alertThreshold)}`,
        evidence: { query: r.query, routes: r.data },
      });
      return elevated.map((x) => x.route);
    });
    const traces = await rb.step('trace-inspection', async () => {
      const t = await act.errorTraces.executeWithOptions({ summary: 'error traces on elevated routes' }, [
        { ...scope, routes, startMs: windowStart, endMs: Date.now() },
      ]);
      rb.finding(
        t.available
          ? {
              step: 'trace-inspection',
              level: t.data.length ? 'warning' : 'info',
              summary: t.data.length
                ? t.data
                    .slice(0, 3)
                    .map((x) => `${x.route}: ${x.exceptionType} ×${x.count}`)
                    .join('; ')
                : 'no error traces',
              evidence: t.data,
            }
          : { step: 'trace-inspection', level: 'unavailable', summary: t.reason, evidence: null },
      );
      return t;
    });
    const logs = await rb.step('error-logs', async () => {
      const l = await act.errorLogs.executeWithOptions({ summary: 'error logs (Loki)' }, [
        { ...scope, routes, startMs: windowStart, endMs: Date.now() },
      ]);
      if (!l.available) {
        rb.finding({ step: 'error-logs', level: 'unavailable', summary: l.reason, evidence: { query: l.query } });
        return l;
      }
      const correlated = [
        ...l.data.tenants.map((t) => ({ ...t, kind: 'tenant' })),
        ...l.data.flags.map((f) => ({ ...f, kind: 'flag' })),
      ].filter((x) => x.share >= 0.5);
      rb.finding({
        step: 'error-logs',
        level: l.data.lines ? 'warning' : 'info',
        summary:
          `${l.data.lines} error lines` +
          (correlated.length
            ? `; correlated with ${correlated.map((x) => `${x.kind} ${x.name} (${Math.round(x.share * 100)}%)`).join(', ')}`
            : '; no tenant or flag correlation'),
        evidence: { query: l.query, ...l.data },
      });
      return l;
    });
    const { dependencies, providers } = await rb.step('dependency-check', async () => {
      const [deps, prov] = await Promise.all([
        act.dependencyHealth.executeWithOptions({ summary: 'Postgres and Redis health' }, []),
        act.providerStatus.executeWithOptions({ summary: 'downstream status pages' }, []),
      ]);
      const bad = deps.filter((d) => d.reachable === false && !/not configured/.test(d.detail));
      const degraded = prov.filter((s) => s.available && s.data.indicator !== 'none');
      rb.finding({
        step: 'dependency-check',
        level: bad.length || degraded.length ? 'critical' : 'info',
        summary: [
          ...deps.map((d) => `${d.name}: ${d.reachable ? 'ok' : 'DOWN'} (${d.detail})`),
          ...prov.map((s) =>
            s.available ? `${s.data.name}: ${s.data.indicator} ${s.data.description}` : `status page: ${s.reason}`,
          ),
        ].join('; '),
        evidence: { dependencies: deps, providers: prov },
      });
      return { dependencies: deps, providers: prov };
    });
    const changes = await rb.step('recent-changes', async () => {
      const r = await act.recentChanges.executeWithOptions(
        { summary: `changes in the past ${formatMs(toMs(p.recentChangesWindow))}` },
        [{ ...scope, fromMs: startedMs - toMs(p.recentChangesWindow), toMs: startedMs }],
      );
      if (!r.available) {
        rb.finding({
          step: 'recent-changes',
          level: 'unavailable',
          summary: `change events unavailable: ${r.reason}`,
          evidence: null,
        });
        return [];
      }
      const c = r.data;
      rb.finding({
        step: 'recent-changes',
        level: c.length ? 'warning' : 'info',
        summary: c.length
          ? c.map((x) => `${x.kind}${x.version ? ` ${x.version}` : ''} at ${x.at}`).join(', ')
          : 'no changes in the window',
        evidence: c,
      });
      return c;
    });
    const evidence: Evidence = { traces, logs, dependencies, providers, changes };
    const diagnosis = await rb.step('diagnosis', async () => {
      const d = diagnose(evidence);
      rb.state.diagnosis = d;
      rb.note(
        'diagnosis',
        d.causes.length ? d.causes.map((c) => `${c.cause} (${c.score})`).join(', ') : 'unknown: no cause stands out',
      );
      rb.record('diagnosis', `diagnosis: ${d.primary}`, d);
      return d;
    });

    // 3. Mitigation Steps, then 4. Validation, offering the next mitigation while validation fails.
    const plan = mitigationPlan(diagnosis, changes);
    for (const step of API_ERROR_BUDGET_STEPS.filter((s) => s.section === MITIGATION && s.kind === 'approval')) {
      if (!plan.includes(step.id)) rb.skip(step.id, 'not indicated by the diagnosis');
    }
    let validated = false;
    let attempt = 0;
    while (!validated) {
      const next = plan.shift();
      if (next) {
        const outcome = await mitigations.apply({
          step: next,
          temporary: TEMPORARY.has(next),
          detail: proposalText(diagnosis.causes.find((c) => c.cause === causeOf(next))?.evidence ?? []),
          deadlineMs,
          withdrawWhen: () => rb.alertResolved,
          after: afterMitigation(next),
        });
        if (outcome === 'rejected' || outcome === 'failed') continue;
      } else if (!rb.alertResolved) {
        rb.setStatus('escalated');
        await rb.escalate(`no mitigation left for ${diagnosis.primary}: responders must mitigate by hand`, ++attempt);
        const handled: DecisionInput | undefined = await rb.gate('manual-mitigation', {
          kind: 'manual',
          detail:
            'Mitigate by hand, then mark done to validate; skip closes the runbook and leaves the incident to responders.',
          deadlineMs,
          withdrawWhen: () => rb.alertResolved,
        });
        if (handled?.decision === 'skip') {
          rb.state.resolution = `handed to responders by ${handled.by}`;
          break;
        }
      }
      validated = await validate();
      if (!validated) {
        rb.setStatus('escalated');
        await rb.escalate('validation failed: offering the next mitigation', ++attempt);
      }
    }

    if (validated) {
      await rb.step('remove-temporary-mitigations', () => mitigations.undoAll('stability confirmed'));
    } else {
      rb.skip('remove-temporary-mitigations', 'left in place: the incident was handed to responders');
    }

    // 5. Post-Incident Tasks
    rb.setStatus('follow_up');
    const systemic = diagnosis.causes.some((c) => SYSTEMIC.has(c.cause));
    const followUps = [
      `Add regression/unit tests that reproduce the failure scenario (${diagnosis.primary})`,
      ...(systemic
        ? [`Schedule design review: ${diagnosis.primary} exposed a systemic issue (retries, backoff, limits)`]
        : []),
    ];
    const resolution =
      rb.state.resolution ??
      resolutionText(
        rb.state.mitigations.filter((m) => m.status === 'applied' || m.status === 'undone').map((m) => m.step),
        rb.alertResolved,
      );
    rb.state.resolution = resolution;
    await rb.step('document', async () => {
      const report = {
        rootCause: diagnosis.causes.length
          ? `${diagnosis.primary}: ${diagnosis.causes[0].evidence.join('; ')}`
          : 'unknown: no cause stood out in the diagnostics',
        impact: impactText(rb.state.findings, startedMs),
        resolution,
        followUps,
      };
      await recordPostIncident(input.runbook, report, toMs(p.followUpAfter));
    });
    await rb.step('regression-tests', () => scheduleFollowUp(input, followUps, toMs(p.followUpAfter)));
    if (systemic) {
      await rb.step('design-review', async () =>
        rb.note('design-review', `on the follow-up list, due in ${formatMs(toMs(p.followUpAfter))}`),
      );
    } else {
      rb.skip('design-review', 'no systemic issue exposed');
    }

    rb.setStatus(validated ? 'resolved' : 'escalated');
    await rb.flush();
    return { status: rb.state.status, diagnosis: rb.state.diagnosis, resolution };
  } catch (err) {
    return await mitigations.abandon(err);
  }

  async function validate(): Promise<boolean> {
    rb.setStatus('validating');
    const windowMs = toMs(p.validationWindow);
    const from = Date.now();
    const window = await rb.step('validate-error-ratio', async () => {
      const result = await validationWindow(rb, 'validate-error-ratio', {
        windowMs,
        intervalMs: toMs(p.validationInterval),
        failAfterBreaches: p.failAfterBreaches,
        check: async () => {
          const r = await act.errorRatio.executeWithOptions({ summary: '5xx ratio now' }, [scope]);
          if (!r.available)
            return { ok: false, breach: false, value: null, summary: `5xx ratio unavailable: ${r.reason}` };
          const v = r.data ?? 0;
          return {
            ok: v < p.validationThreshold,
            breach: v > p.alertThreshold,
            value: r.data,
            summary: `5xx ${pct(r.data)} (target < ${pct(p.validationThreshold)})`,
          };
        },
      });
      if (!result.passed) rb.fail('validate-error-ratio', result.reason);
      else rb.note('validate-error-ratio', result.reason);
      return result;
    });
    if (!window.passed) {
      rb.skip('validate-logs', 'the error ratio did not hold');
      return false;
    }
    return rb.step('validate-logs', async () => {
      const spikes = await act.logSpikes.executeWithOptions({ summary: 'new error spikes in logs?' }, [
        { ...scope, startMs: from, endMs: Date.now(), bucketMs: toMs(p.validationInterval), factor: p.logSpikeFactor },
      ]);
      if (!spikes.available) {
        rb.note('validate-logs', `logs unavailable (${spikes.reason}): judged on the error ratio alone`);
        return true;
      }
      if (spikes.data.spike) {
        rb.fail(
          'validate-logs',
          `new error spike: ${spikes.data.peak} lines in ${formatMs(toMs(p.validationInterval))} (median ${spikes.data.median})`,
        );
        return false;
      }
      rb.note(
        'validate-logs',
        `${spikes.data.lines} error lines, peak ${spikes.data.peak} per ${formatMs(toMs(p.validationInterval))}, no spike`,
      );
      return true;
    });
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
        rb.record(
          'notified',
          `customer success: ${sent.delivered.join(', ') || [...sent.failed, ...sent.skipped].join('; ')}`,
          sent,
          step,
        );
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

function resolutionText(applied: string[], alertResolved: boolean): string {
  if (applied.length) return `mitigated by ${applied.join(', ')}; validation held`;
  return alertResolved ? 'the alert resolved before any mitigation; validation held' : 'validation held';
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
