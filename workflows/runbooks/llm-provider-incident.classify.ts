// The Anthropic API incident document's severity table and decision tree, as pure functions over
// the probe results and the app's own metrics. They run inside the workflow.
//
// A claim only where the evidence holds it: no test request answered and no app metric is "not
// tested", never healthy; a 400/404 says the test request is wrong (model id, endpoint), not that the
// provider fails; from a handful of test requests, "at or above 5 %" needs the lower end of the 95 %
// Wilson interval at or above 5 %, and the app's own error ratio (real traffic), when known, decides.
import type { ProbeResult } from '../../activities/provider';
import type { Diagnosis } from '../definitions';

export const SEVERITIES = ['P1', 'P2', 'P3', 'P4'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const BRANCHES = [
  'auth_failure',
  'misconfigured',
  'rate_limited',
  'server_error',
  'overloaded',
  'timeout',
  'healthy',
  'not_tested',
] as const;
export type Branch = (typeof BRANCHES)[number];

/** The branch's step in the decision tree, and the mitigations the document gives it, in order. */
export const BRANCH_STEP: Record<Branch, string | null> = {
  auth_failure: 'key-issue',
  misconfigured: 'misconfigured-request',
  rate_limited: 'rate-limit-wait',
  server_error: 'server-error-retry',
  overloaded: 'overloaded-retry',
  timeout: 'timeout-check',
  healthy: null,
  not_tested: null,
};
export const BRANCH_MITIGATIONS: Record<Branch, string[]> = {
  auth_failure: ['fallback-mode'],
  // The request is wrong, not the provider: nothing of the provider's to work around.
  misconfigured: [],
  rate_limited: ['provider-circuit-breaker', 'queue-non-critical', 'message-batches', 'reduce-max-tokens'],
  server_error: ['fallback-mode', 'provider-circuit-breaker'],
  overloaded: ['fallback-mode', 'provider-circuit-breaker'],
  timeout: ['reduce-max-tokens', 'smaller-model'],
  healthy: [],
  // Nothing shows the provider failing: no mitigation without evidence.
  not_tested: [],
};

export interface AppSignals {
  /** The app's provider error ratio (0..1), null when unknown. */
  errorRatio: number | null;
  /** The app's p99 provider latency in ms, null when unknown. */
  p99Ms: number | null;
  /** The configured quality signal (e.g. an eval score), null when unknown. */
  quality: number | null;
}

export interface SeverityOptions {
  p99LatencyMs: number;
  intermittentErrorRate: number;
  qualityThreshold: number;
  degradedQualityReported: boolean;
}

/**
 * `incident`: a row of the table holds (severity set). `healthy`: there was data and no row holds.
 * `not_tested`: no test request reached the provider and the app gave no error ratio, so nothing
 * shows it healthy or failing (severity null, the reason says why).
 */
export type Verdict = 'incident' | 'healthy' | 'not_tested';

export interface Classification {
  severity: Severity | null;
  verdict: Verdict;
  reasons: string[];
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

/** The 95 % Wilson score interval of k failures in n requests (0..1 with no request). */
export function wilsonInterval(k: number, n: number, z = 1.96): { low: number; high: number } {
  if (n <= 0) return { low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denominator;
  const margin = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  return { low: Math.max(0, center - margin), high: Math.min(1, center + margin) };
}

/** A 400 or 404: the API refused the request itself (model id, endpoint, body), not the load on it. */
export function isMisconfigured(p: ProbeResult): boolean {
  return (
    p.status === 400 || p.status === 404 || p.errorType === 'invalid_request_error' || p.errorType === 'not_found_error'
  );
}

/** "404 not_found_error: model: claude-x" for the first refused request, as the API said it. */
export function describeRefusal(probes: ProbeResult[]): string {
  const r = probes.find(isMisconfigured);
  return r ? `${r.status ?? ''} ${r.errorType ?? 'error'}${r.message ? `: ${r.message}` : ''}`.trim() : '';
}

/**
 * The severity table, first row that holds wins. `untested` says why no test request was sent (or
 * answered), for the reason of a `not_tested` verdict.
 */
export function classify(
  probes: ProbeResult[],
  app: AppSignals,
  o: SeverityOptions,
  untested?: string,
): Classification {
  const refused = probes.filter(isMisconfigured);
  // Requests the API refused as malformed say nothing about the provider: not counted.
  const tested = probes.filter((p) => !isMisconfigured(p));
  const n = tested.length;
  const failed = tested.filter((p) => p.outcome !== 'ok');
  const serverSide = tested.filter((p) => p.status === 500 || p.status === 529);
  const auth = tested.filter((p) => p.status === 401 || p.status === 403);
  const latencies = tested.filter((p) => p.outcome === 'ok').map((p) => p.latencyMs);
  const probeP99 = latencies.length ? quantile(latencies, 0.99) : 0;
  const timeouts = tested.filter((p) => p.outcome === 'timeout').length;
  const notes = refused.length
    ? [
        `${refused.length} of ${probes.length} test requests refused as misconfigured (${describeRefusal(refused)}), not counted`,
      ]
    : [];
  const incident = (severity: Severity, reasons: string[]): Classification => ({
    severity,
    verdict: 'incident',
    reasons: [...reasons, ...notes],
  });

  if (n && serverSide.length === n) return incident('P1', [`all ${n} test requests answered 500/529`]);
  if (n && auth.length === n) return incident('P1', [`all ${n} test requests refused (401/403): every request fails`]);
  if ((app.errorRatio ?? 0) >= 0.99)
    return incident('P1', [`the app's provider error ratio is ${pct(app.errorRatio ?? 0)}`]);

  // The error rate: real traffic decides when the app reports it; test requests alone must show
  // the rate at or above the threshold with 95 % confidence to call it more than intermittent.
  let errors: { severity: 'P2' | 'P3'; reason: string } | null = null;
  const threshold = o.intermittentErrorRate;
  const probeCount = `${failed.length} of ${n} test requests failed`;
  if (app.errorRatio !== null) {
    const seen = n ? `; ${probeCount}` : '';
    if (app.errorRatio >= threshold)
      errors = {
        severity: 'P2',
        reason: `the app's provider error ratio is ${pct(app.errorRatio)} (at or above ${pct(threshold)})${seen}`,
      };
    else if (app.errorRatio > 0)
      errors = {
        severity: 'P3',
        reason: `intermittent errors: the app's provider error ratio is ${pct(app.errorRatio)} (< ${pct(threshold)})${seen}`,
      };
    else if (failed.length)
      errors = {
        severity: 'P3',
        reason: `intermittent errors: ${probeCount} while the app's provider error ratio is ${pct(0)}`,
      };
  } else if (failed.length) {
    const ci = wilsonInterval(failed.length, n);
    const interval = `${pct(failed.length / n)}, 95% CI ${pct(ci.low)}-${pct(ci.high)}`;
    errors =
      ci.low >= threshold
        ? { severity: 'P2', reason: `error rate: ${probeCount} (${interval}: at or above ${pct(threshold)})` }
        : {
            severity: 'P3',
            reason: `intermittent errors: ${probeCount} (${interval}: not shown to be at or above ${pct(threshold)})`,
          };
  }

  const p2: string[] = [];
  if (tested.some((p) => p.status === 429)) p2.push('rate limited (429)');
  if ((app.p99Ms ?? 0) > o.p99LatencyMs)
    p2.push(`app p99 latency ${Math.round(app.p99Ms ?? 0)} ms > ${o.p99LatencyMs} ms`);
  if (probeP99 > o.p99LatencyMs) p2.push(`test request latency ${Math.round(probeP99)} ms > ${o.p99LatencyMs} ms`);
  if (timeouts) p2.push(`${timeouts} of ${n} test requests timed out`);
  // Between intermittent (< 5 %) and all requests the table is silent: worse than P3.
  if (errors?.severity === 'P2') p2.push(errors.reason);
  if (p2.length) return incident('P2', p2);

  if (errors) return incident('P3', [errors.reason]);

  if (o.degradedQualityReported) return incident('P4', ['degraded quality reported by a responder']);
  if (app.quality !== null && app.quality < o.qualityThreshold)
    return incident('P4', [`quality signal ${app.quality} below ${o.qualityThreshold}`]);

  if (n === 0 && app.errorRatio === null) {
    const why = refused.length
      ? `every test request was refused as misconfigured (${describeRefusal(refused)})`
      : (untested ?? 'no test request was answered and the app reports no error ratio');
    return { severity: null, verdict: 'not_tested', reasons: [`not tested: ${why}`] };
  }
  return {
    severity: null,
    verdict: 'healthy',
    reasons: [
      n
        ? `no errors in ${n} test requests, latency within bounds, quality normal`
        : `no test request (${untested ?? 'none sent'}); the app's provider error ratio is ${pct(0)}`,
      ...notes,
    ],
  };
}

/** P1 is the most severe. */
export function moreSevere(a: Severity | null, b: Severity | null): boolean {
  if (a === null) return false;
  return b === null || SEVERITIES.indexOf(a) < SEVERITIES.indexOf(b);
}

/**
 * The decision tree: the branch the failing test requests point at, with its evidence. With every
 * test request fine, the app's own slow responses (p99 above the threshold) are the timeout branch:
 * "Slow responses (>10s): large max_tokens or complex prompt". No test request at all is
 * `not_tested`: nothing to follow the tree with.
 */
export function diagnoseProvider(
  probes: ProbeResult[],
  statusIndicator: string | null,
  slowApp?: { p99Ms: number; thresholdMs: number },
): Diagnosis & { branch: Branch } {
  const count = (pred: (p: ProbeResult) => boolean) => probes.filter(pred).length;
  const ids = (pred: (p: ProbeResult) => boolean) =>
    probes
      .filter(pred)
      .map((p) => p.requestId)
      .filter(Boolean)
      .slice(0, 3)
      .join(', ');
  const branches: { branch: Branch; n: number; pred: (p: ProbeResult) => boolean; why: string }[] = [
    { branch: 'auth_failure', n: 0, pred: (p) => p.status === 401 || p.status === 403, why: 'key issue' },
    {
      branch: 'misconfigured',
      n: 0,
      pred: isMisconfigured,
      why: `refused as misconfigured (${describeRefusal(probes)}): wrong model id or endpoint`,
    },
    { branch: 'rate_limited', n: 0, pred: (p) => p.status === 429, why: 'rate limited' },
    { branch: 'overloaded', n: 0, pred: (p) => p.status === 529, why: 'overloaded' },
    {
      branch: 'server_error',
      n: 0,
      pred: (p) => p.status !== null && p.status >= 500 && p.status !== 529,
      why: 'server error',
    },
    { branch: 'timeout', n: 0, pred: (p) => p.outcome === 'timeout', why: 'timeouts: network or long generation' },
  ];
  for (const b of branches) b.n = count(b.pred);
  // Key problems first: nothing else can be judged while every request is refused. Then a malformed
  // request: the provider's answers to it say nothing about the provider.
  const first = (b: Branch) => (b === 'auth_failure' ? 0 : b === 'misconfigured' ? 1 : 2);
  const hits = branches.filter((b) => b.n > 0).sort((a, b) => first(a.branch) - first(b.branch) || b.n - a.n);
  if (hits.length === 0 && slowApp && slowApp.p99Ms > slowApp.thresholdMs)
    return {
      branch: 'timeout',
      primary: 'timeout',
      causes: [
        {
          cause: 'timeout',
          score: 1,
          evidence: [
            `the app's p99 provider latency is ${Math.round(slowApp.p99Ms)} ms (> ${slowApp.thresholdMs} ms)${probes.length ? ' while test requests answer' : ''}`,
          ],
          mitigation: BRANCH_MITIGATIONS.timeout[0],
        },
      ],
    };
  if (probes.length === 0) return { branch: 'not_tested', primary: 'not_tested', causes: [] };
  if (hits.length === 0) return { branch: 'healthy', primary: 'healthy', causes: [] };
  const causes = hits.map((b) => ({
    cause: b.branch,
    score: Math.round((b.n / Math.max(1, probes.length)) * 100) / 100,
    evidence: [
      `${b.n} of ${probes.length} test requests: ${b.why}${ids(b.pred) ? ` (request ids ${ids(b.pred)})` : ''}`,
      ...(statusIndicator ? [`status page indicator: ${statusIndicator}`] : []),
    ],
    mitigation: BRANCH_MITIGATIONS[b.branch][0] ?? '',
  }));
  return { branch: hits[0].branch, primary: hits[0].branch, causes };
}

/** The largest retry-after (seconds) the 429s asked for, or null. */
export function retryAfterMs(probes: ProbeResult[]): number | null {
  const waits = probes.map((p) => Number(p.rateLimit['retry-after'])).filter((s) => Number.isFinite(s) && s > 0);
  return waits.length ? Math.max(...waits) * 1000 : null;
}

/** "Next business day": the next Monday-Friday at `hour` local time, as ms from now. */
export function untilNextBusinessDay(nowMs: number, hour: number, utcOffsetMinutes: number): number {
  const offset = utcOffsetMinutes * 60_000;
  const local = new Date(nowMs + offset);
  const next = new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + 1, hour));
  while (next.getUTCDay() === 0 || next.getUTCDay() === 6) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - offset - nowMs;
}
