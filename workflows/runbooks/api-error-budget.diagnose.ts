// Diagnosis for the API Error Budget runbook: weighs the evidence of the five diagnostics against
// the document's five causes and proposes its mitigations, most likely cause first. No error signal
// (no elevated route, no error trace, no error log line) is `insufficient_data`, never a cause; a
// change counts only when the 5xx ratio rose after it.
import type { Cause, Diagnosis } from '../definitions';
import type { ChangeEvent } from '../../activities/db/incident-store';
import type { DependencyHealth, ProviderStatus } from '../../activities/dependencies';
import type { Observed } from '../../activities/http';
import type { ErrorLogSummary } from '../../activities/loki';
import type { RouteRatio, RouteSeries } from '../../activities/prometheus';
import type { TraceException } from '../../activities/traces';

export const CAUSES = [
  'deployment_regression',
  'config_drift',
  'third_party_outage',
  'database_errors',
  'rate_limiting',
] as const;
export type ApiCause = (typeof CAUSES)[number] | 'unknown' | 'insufficient_data';

/** A change in the window before the alert, and whether the errors rose after it (null: cannot tell). */
export interface JudgedChange extends ChangeEvent {
  rose: boolean | null;
  why: string;
}

export interface Evidence {
  routes: Observed<RouteRatio[]>;
  traces: Observed<TraceException[]>;
  logs: Observed<ErrorLogSummary>;
  dependencies: DependencyHealth[];
  providers: Observed<ProviderStatus>[];
  changes: Observed<JudgedChange[]>;
}

export interface DiagnoseOptions {
  /** A route above this 5xx ratio is elevated: an error signal. */
  alertThreshold: number;
}

/** The document's mitigations per cause, in the order they are offered. */
export const MITIGATIONS: Record<ApiCause, string[]> = {
  deployment_regression: ['rollback-deploy'],
  config_drift: ['restore-secret'],
  third_party_outage: ['degraded-mode'],
  database_errors: ['migration-rollback', 'replica-failover'],
  rate_limiting: ['raise-concurrency', 'circuit-breaker-queue'],
  unknown: [],
  insufficient_data: [],
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

const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
const changeName = (c: ChangeEvent) =>
  `${c.kind}${c.version ? ` ${c.version}` : ''} at ${c.at}${c.description ? `: ${c.description}` : ''}`;

/**
 * Did the 5xx ratio rise after the change? Per route: the mean over `baselineMs` before it against
 * the peak after it. A route counts when it was below the alert threshold before and above it (and
 * at least twice as high) after; with no data before the change there is no telling.
 */
export function judgeChange(
  change: ChangeEvent,
  series: Observed<RouteSeries[]>,
  o: { alertThreshold: number; baselineMs: number },
): JudgedChange {
  if (!series.available) return { ...change, rose: null, why: `5xx history unavailable: ${series.reason}` };
  const at = Date.parse(change.at);
  let bestRise: string | undefined;
  let seenBefore = false;
  let worst: { route: string; before: number; after: number } | undefined;
  let newRoute: string | undefined;
  for (const s of series.data) {
    const before = s.points.filter(([t]) => t >= at - o.baselineMs && t < at).map(([, v]) => v);
    const after = s.points.filter(([t]) => t >= at).map(([, v]) => v);
    // A route failing after the change with no traffic before it (one the change added?): no telling.
    if (!before.length && after.some((v) => v > o.alertThreshold)) newRoute ??= s.route;
    if (!before.length || !after.length) continue;
    seenBefore = true;
    const mean = before.reduce((a, b) => a + b, 0) / before.length;
    const peak = Math.max(...after);
    if (!worst || peak > worst.after) worst = { route: s.route, before: mean, after: peak };
    if (peak > o.alertThreshold && mean < o.alertThreshold && peak >= 2 * mean && !bestRise)
      bestRise = `5xx on ${s.route} rose from ${pct(mean)} before to ${pct(peak)} after ${changeName(change)}`;
  }
  if (bestRise) return { ...change, rose: true, why: bestRise };
  if (newRoute)
    return {
      ...change,
      rose: null,
      why: `5xx on ${newRoute} after ${changeName(change)}, which had no traffic before it: cannot tell whether the change caused them`,
    };
  if (!seenBefore)
    return {
      ...change,
      rose: null,
      why: `no 5xx data around ${changeName(change)}: cannot tell whether errors rose after it`,
    };
  return {
    ...change,
    rose: false,
    why: `errors did not rise after ${changeName(change)} (worst: ${worst!.route} ${pct(worst!.before)} before, ${pct(worst!.after)} after)`,
  };
}

/** Every change of the window, judged; one recorded after the alert started cannot have caused it. */
export function judgeChanges(
  changes: ChangeEvent[],
  series: Observed<RouteSeries[]>,
  o: { alertStartMs: number; alertThreshold: number; baselineMs: number },
): JudgedChange[] {
  return changes.map((c) =>
    Date.parse(c.at) > o.alertStartMs
      ? {
          ...c,
          rose: false,
          why: `${changeName(c)} came after the alert started (${new Date(o.alertStartMs).toISOString()}): not a cause`,
        }
      : judgeChange(c, series, o),
  );
}

/** Any sign of errors: an elevated route, a failing span, an error log line. */
export function errorSignal(evidence: Evidence, o: DiagnoseOptions): string[] {
  const signs: string[] = [];
  if (evidence.routes.available) {
    const elevated = evidence.routes.data.filter((r) => r.ratio > o.alertThreshold);
    if (elevated.length) signs.push(`5xx above ${pct(o.alertThreshold)} on ${elevated.map((r) => r.route).join(', ')}`);
  }
  if (evidence.traces.available && evidence.traces.data.length)
    signs.push(`${evidence.traces.data.reduce((n, t) => n + t.count, 0)} error spans`);
  if (evidence.logs.available && evidence.logs.data.lines) signs.push(`${evidence.logs.data.lines} error log lines`);
  return signs;
}

/** The sources the diagnosis read, and those it could not read with the reason. */
export function sourcesOf(evidence: Evidence): NonNullable<Diagnosis['sources']> {
  const read: string[] = [];
  const unread: { source: string; reason: string }[] = [];
  const add = (source: string, o: Observed<unknown>) =>
    o.available ? read.push(source) : unread.push({ source, reason: o.reason });
  add('prometheus (5xx per route)', evidence.routes);
  add('traces', evidence.traces);
  add('logs', evidence.logs);
  for (const d of evidence.dependencies) {
    if (/not configured/.test(d.detail)) unread.push({ source: d.name, reason: d.detail });
    else read.push(d.name);
  }
  evidence.providers.forEach((p, i) => add(p.available ? `status page ${p.data.name}` : `status page ${i + 1}`, p));
  add('change events', evidence.changes);
  return { read, unread };
}

export function diagnose(evidence: Evidence, o: DiagnoseOptions): Diagnosis {
  const sources = sourcesOf(evidence);
  if (errorSignal(evidence, o).length === 0) return { primary: 'insufficient_data', causes: [], sources };
  const texts = textsOf(evidence);
  const total = texts.reduce((n, t) => n + t.count, 0);
  const scores = new Map<
    (typeof CAUSES)[number],
    { score: number; evidence: string[]; vars: Record<string, string> }
  >();
  // What a mitigation acts on: the worst route, and the version of the change the errors rose after.
  const worst = evidence.routes.available
    ? [...evidence.routes.data].filter((r) => r.ratio > o.alertThreshold).sort((a, b) => b.ratio - a.ratio)[0]
    : undefined;
  const add = (cause: (typeof CAUSES)[number], score: number, why: string, vars: Record<string, string> = {}) => {
    const entry = scores.get(cause) ?? { score: 0, evidence: [], vars: worst ? { route: worst.route } : {} };
    entry.score = Math.min(1, entry.score + score);
    entry.evidence.push(why);
    entry.vars = { ...vars, ...entry.vars };
    scores.set(cause, entry);
  };

  for (const c of evidence.changes.available ? evidence.changes.data : []) {
    if (!c.rose) continue;
    const version = c.version ? { version: c.version } : undefined;
    if (c.kind === 'deploy') add('deployment_regression', 0.6, `deployment before the errors: ${c.why}`, version);
    if (c.kind === 'config' || c.kind === 'secret' || c.kind === 'flag')
      add('config_drift', 0.6, `${c.kind} change before the errors: ${c.why}`, version);
    if (c.kind === 'migration') add('database_errors', 0.4, `schema migration before the errors: ${c.why}`, version);
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
      ...(Object.keys(v.vars).length ? { vars: v.vars } : {}),
    }))
    .sort((a, b) => b.score - a.score || CAUSES.indexOf(a.cause as never) - CAUSES.indexOf(b.cause as never));
  return { primary: causes[0]?.cause ?? 'unknown', causes, sources };
}

/** Every mitigation to offer, in order: each cause's options, most likely cause first. */
export function mitigationPlan(diagnosis: Diagnosis, changes: JudgedChange[]): string[] {
  const plan: string[] = [];
  for (const c of diagnosis.causes) {
    let options = MITIGATIONS[c.cause as ApiCause] ?? [];
    // A migration rollback only makes sense when a migration shipped; else go straight to failover.
    if (c.cause === 'database_errors' && !changes.some((x) => x.kind === 'migration' && x.rose))
      options = ['replica-failover'];
    for (const o of options) if (!plan.includes(o)) plan.push(o);
  }
  return plan;
}
