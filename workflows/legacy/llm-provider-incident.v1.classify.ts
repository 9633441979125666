// The severity table and decision tree of the LLM provider runbook as released before patch
// `llm-provider-evidence` (zero test requests classified healthy, 1 failure in 5 always P2, no
// misconfigured branch). Frozen with llmProviderIncidentV1: incidents started on it replay through
// it. Delete with it once none run.
import type { ProbeResult } from '../../activities/provider';
import type { Diagnosis } from '../definitions';

export const SEVERITIES = ['P1', 'P2', 'P3', 'P4'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const BRANCHES = ['auth_failure', 'rate_limited', 'server_error', 'overloaded', 'timeout', 'healthy'] as const;
export type Branch = (typeof BRANCHES)[number];

/** The branch's step in the decision tree, and the mitigations the document gives it, in order. */
export const BRANCH_STEP: Record<Branch, string | null> = {
  auth_failure: 'key-issue',
  rate_limited: 'rate-limit-wait',
  server_error: 'server-error-retry',
  overloaded: 'overloaded-retry',
  timeout: 'timeout-check',
  healthy: null,
};
export const BRANCH_MITIGATIONS: Record<Branch, string[]> = {
  auth_failure: ['fallback-mode'],
  rate_limited: ['provider-circuit-breaker', 'queue-non-critical', 'message-batches', 'reduce-max-tokens'],
  server_error: ['fallback-mode', 'provider-circuit-breaker'],
  overloaded: ['fallback-mode', 'provider-circuit-breaker'],
  timeout: ['reduce-max-tokens', 'smaller-model'],
  healthy: [],
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

export interface Classification {
  severity: Severity | null;
  reasons: string[];
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

/** The severity table, first row that holds wins. No row holding is no incident. */
export function classify(probes: ProbeResult[], app: AppSignals, o: SeverityOptions): Classification {
  const failed = probes.filter((p) => p.outcome !== 'ok');
  const serverSide = probes.filter((p) => p.status === 500 || p.status === 529);
  const auth = probes.filter((p) => p.status === 401 || p.status === 403);
  const probeRate = probes.length ? failed.length / probes.length : 0;
  const errorRate = Math.max(probeRate, app.errorRatio ?? 0);
  const latencies = probes.filter((p) => p.outcome === 'ok').map((p) => p.latencyMs);
  const probeP99 = latencies.length ? quantile(latencies, 0.99) : 0;
  const timeouts = probes.filter((p) => p.outcome === 'timeout').length;

  if (probes.length && serverSide.length === probes.length)
    return { severity: 'P1', reasons: [`all ${probes.length} test requests answered 500/529`] };
  if (probes.length && auth.length === probes.length)
    return { severity: 'P1', reasons: [`all ${probes.length} test requests refused (401/403): every request fails`] };
  if ((app.errorRatio ?? 0) >= 0.99)
    return { severity: 'P1', reasons: [`the app's provider error ratio is ${pct(app.errorRatio ?? 0)}`] };

  const p2: string[] = [];
  if (probes.some((p) => p.status === 429)) p2.push('rate limited (429)');
  if ((app.p99Ms ?? 0) > o.p99LatencyMs)
    p2.push(`app p99 latency ${Math.round(app.p99Ms ?? 0)} ms > ${o.p99LatencyMs} ms`);
  if (probeP99 > o.p99LatencyMs) p2.push(`test request latency ${Math.round(probeP99)} ms > ${o.p99LatencyMs} ms`);
  if (timeouts) p2.push(`${timeouts} of ${probes.length} test requests timed out`);
  // Between intermittent (< 5 %) and all requests the table is silent: worse than P3.
  if (errorRate >= o.intermittentErrorRate)
    p2.push(`error rate ${pct(errorRate)} (at or above ${pct(o.intermittentErrorRate)})`);
  if (p2.length) return { severity: 'P2', reasons: p2 };

  if (errorRate > 0)
    return { severity: 'P3', reasons: [`intermittent errors: ${pct(errorRate)} (< ${pct(o.intermittentErrorRate)})`] };

  if (o.degradedQualityReported) return { severity: 'P4', reasons: ['degraded quality reported by a responder'] };
  if (app.quality !== null && app.quality < o.qualityThreshold)
    return { severity: 'P4', reasons: [`quality signal ${app.quality} below ${o.qualityThreshold}`] };
  return { severity: null, reasons: ['no errors, latency within bounds, quality normal'] };
}

/** P1 is the most severe. */
export function moreSevere(a: Severity | null, b: Severity | null): boolean {
  if (a === null) return false;
  return b === null || SEVERITIES.indexOf(a) < SEVERITIES.indexOf(b);
}

/**
 * The decision tree: the branch the failing test requests point at, with its evidence. With every
 * test request fine, the app's own slow responses (p99 above the threshold) are the timeout branch:
 * "Slow responses (>10s): large max_tokens or complex prompt".
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
  // Key problems first: nothing else can be judged while every request is refused.
  const hits = branches.filter((b) => b.n > 0).sort((a, b) => (a.branch === 'auth_failure' ? -1 : b.n - a.n));
  if (hits.length === 0 && slowApp && slowApp.p99Ms > slowApp.thresholdMs)
    return {
      branch: 'timeout',
      primary: 'timeout',
      causes: [
        {
          cause: 'timeout',
          score: 1,
          evidence: [
            `the app's p99 provider latency is ${Math.round(slowApp.p99Ms)} ms (> ${slowApp.thresholdMs} ms) while test requests answer`,
          ],
          mitigation: BRANCH_MITIGATIONS.timeout[0],
        },
      ],
    };
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
