// The API Error Budget diagnosis as released with apiErrorBudgetV1 (frozen with it).
import type { Cause, Diagnosis } from '../definitions';
import type { ChangeEvent } from '../../activities/db/incident-store';
import type { DependencyHealth, ProviderStatus } from '../../activities/dependencies';
import type { Observed } from '../../activities/http';
import type { ErrorLogSummary } from '../../activities/loki';
import type { TraceException } from '../../activities/traces';

export const CAUSES = [
  'deployment_regression',
  'config_drift',
  'third_party_outage',
  'database_errors',
  'rate_limiting',
] as const;
export type ApiCause = (typeof CAUSES)[number] | 'unknown';

export interface Evidence {
  traces: Observed<TraceException[]>;
  logs: Observed<ErrorLogSummary>;
  dependencies: DependencyHealth[];
  providers: Observed<ProviderStatus>[];
  changes: ChangeEvent[];
}

/** The document's mitigations per cause, in the order they are offered. */
export const MITIGATIONS: Record<ApiCause, string[]> = {
  deployment_regression: ['rollback-deploy'],
  config_drift: ['restore-secret'],
  third_party_outage: ['degraded-mode'],
  database_errors: ['migration-rollback', 'replica-failover'],
  rate_limiting: ['raise-concurrency', 'circuit-breaker-queue'],
  unknown: [],
};

const PATTERNS: Record<(typeof CAUSES)[number], RegExp> = {
  deployment_regression:
    /TypeError|ReferenceError|undefined is not|cannot read prop|null pointer|NullPointer|is not a function/i,
  config_drift:
    /secret|credential|api[ _-]?key|unauthori[sz]ed|\b401\b|\b403\b|OTEL_|otlp|exporter|config(uration)? (missing|invalid)|env(ironment)? var/i,
  third_party_outage:
    /upstream (error|unavailable|timed? ?out|connect)|provider (error|unavailable|outage)|\b502\b|\b503\b|\b504\b|bad gateway|service unavailable|overloaded|ECONNREFUSED|ETIMEDOUT|anthropic|openai/i,
  database_errors:
    /database|postgres|sql|deadlock|relation .* does not exist|column .* does not exist|connection pool|too many connections|ECONNRESET.*5432|violates|lock timeout/i,
  rate_limiting: /rate.?limit|too many requests|\b429\b|throttl|concurrency limit|queue full|circuit (breaker )?open/i,
};

/** Error messages with how many error lines (or failing spans) each stands for. */
function textsOf(evidence: Evidence): { text: string; count: number }[] {
  const out: { text: string; count: number }[] = [];
  if (evidence.logs.available)
    out.push(...evidence.logs.data.topMessages.map((m) => ({ text: m.message, count: m.count })));
  if (evidence.traces.available)
    out.push(...evidence.traces.data.map((t) => ({ text: `${t.exceptionType}: ${t.message}`, count: t.count })));
  return out;
}

export function diagnose(evidence: Evidence): Diagnosis {
  const texts = textsOf(evidence);
  const total = texts.reduce((n, t) => n + t.count, 0);
  const scores = new Map<(typeof CAUSES)[number], { score: number; evidence: string[] }>();
  const add = (cause: (typeof CAUSES)[number], score: number, why: string) => {
    const entry = scores.get(cause) ?? { score: 0, evidence: [] };
    entry.score = Math.min(1, entry.score + score);
    entry.evidence.push(why);
    scores.set(cause, entry);
  };

  for (const c of evidence.changes) {
    const what = `${c.kind}${c.version ? ` ${c.version}` : ''} at ${c.at}${c.description ? `: ${c.description}` : ''}`;
    if (c.kind === 'deploy') add('deployment_regression', 0.6, `deployment in the past hour (${what})`);
    if (c.kind === 'config' || c.kind === 'secret' || c.kind === 'flag')
      add('config_drift', 0.6, `${c.kind} change in the past hour (${what})`);
    if (c.kind === 'migration') add('database_errors', 0.4, `schema migration in the past hour (${what})`);
  }

  for (const dep of evidence.dependencies) {
    if (dep.name !== 'postgres' && dep.name !== 'redis') continue;
    if (!dep.reachable && !/not configured/.test(dep.detail)) {
      add(dep.name === 'postgres' ? 'database_errors' : 'rate_limiting', 0.5, `${dep.name} unreachable: ${dep.detail}`);
    } else if ((dep.saturation ?? 0) >= 0.9) {
      add(dep.name === 'postgres' ? 'database_errors' : 'rate_limiting', 0.4, `${dep.name} saturated: ${dep.detail}`);
    } else if ((dep.latencyMs ?? 0) >= 500) {
      add(dep.name === 'postgres' ? 'database_errors' : 'rate_limiting', 0.3, `${dep.name} slow: ${dep.detail}`);
    }
  }

  for (const p of evidence.providers) {
    if (!p.available) continue;
    const { indicator, name, description } = p.data;
    if (indicator === 'major' || indicator === 'critical')
      add('third_party_outage', 0.7, `${name} status ${indicator}: ${description}`);
    else if (indicator !== 'none' && indicator !== 'unknown')
      add('third_party_outage', 0.4, `${name} status ${indicator}: ${description}`);
  }

  // The share of errors whose message points at a cause: all of them is worth 0.5.
  for (const cause of CAUSES) {
    const hits = texts.filter((t) => PATTERNS[cause].test(t.text));
    const share = total ? hits.reduce((n, t) => n + t.count, 0) / total : 0;
    if (share >= 0.2)
      add(cause, 0.5 * share, `${Math.round(share * 100)}% of errors point at it: "${hits[0].text.slice(0, 120)}"`);
  }

  const causes: Cause[] = [...scores.entries()]
    .filter(([, v]) => v.score >= 0.3)
    .map(([cause, v]) => ({
      cause,
      score: Math.round(v.score * 100) / 100,
      evidence: v.evidence,
      mitigation: MITIGATIONS[cause][0],
    }))
    .sort((a, b) => b.score - a.score || CAUSES.indexOf(a.cause as never) - CAUSES.indexOf(b.cause as never));
  return { primary: causes[0]?.cause ?? 'unknown', causes };
}

/** Every mitigation to offer, in order: each cause's options, most likely cause first. */
export function mitigationPlan(diagnosis: Diagnosis, changes: ChangeEvent[]): string[] {
  const plan: string[] = [];
  for (const c of diagnosis.causes) {
    let options = MITIGATIONS[c.cause as ApiCause] ?? [];
    // A migration rollback only makes sense when a migration shipped; else go straight to failover.
    if (c.cause === 'database_errors' && !changes.some((x) => x.kind === 'migration')) options = ['replica-failover'];
    for (const o of options) if (!plan.includes(o)) plan.push(o);
  }
  return plan;
}
