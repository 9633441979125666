// What each step of the Cost Spike runbook says in the timeline: its rows read the way the
// document asks ("if traffic is flat but cost is up", "if hidden ratio increased", ...).
// Pure functions over the diagnostics' rows; they run inside the workflow.
import type { FlagRow, HourCost, ModelUsage, TrafficSources } from '../../activities/cost';
import type { Observed } from '../../activities/http';
import type { ChangeEvent } from '../../activities/db/incident-store';
import type { FeatureRow, HiddenRatioRow, TokenRow, ToolFailureRow, TrafficRow } from '../../activities/telemetry';
import type { Finding } from '../definitions';
import type { CostSpikeDiagnosis, TrendPoint, Wire } from './cost-spike.diagnose';

interface Span {
  fromMs: number;
  toMs: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ms = (d: Date | string): number => new Date(d).getTime();
const n = (x: string | number | null | undefined): number => Number(x ?? 0) || 0;
const pct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${Math.round(x * 100)}%` : 'n/a');
const usd = (x: number): string => `$${x.toFixed(2)}`;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const lasting = (t: number): string => (t < 120_000 ? `${Math.round(t / 1000)} s` : `${Math.round(t / 60_000)} min`);
const rise = (now: number, before: number): number => (before > 0 ? now / before - 1 : now > 0 ? Infinity : 0);

/** The spike's whole hours and the same hours a day earlier. */
function split<T extends { hour: Date | string }>(rows: T[], span: Span): { spike: T[]; before: T[] } {
  const from = Math.floor(span.fromMs / HOUR) * HOUR;
  const whole = (t: number) => t + HOUR <= span.toMs;
  return {
    spike: rows.filter((r) => ms(r.hour) >= from && whole(ms(r.hour))),
    before: rows.filter((r) => ms(r.hour) >= from - DAY && ms(r.hour) < span.toMs - DAY && whole(ms(r.hour) + DAY)),
  };
}

export function confirmation(c: CostSpikeDiagnosis, threshold: number): string {
  if (c.confirmed)
    return `sustained spike since ${c.startedAt}: ${usd(c.spikeCost)} over ${c.hours.filter((h) => h.above).length} hours above +${Math.round(threshold * 100)}% vs ${usd(c.baselineCost)} baseline (${pct(c.increase)})`;
  if (c.hoursAbove === 1)
    return `a 1-hour blip: one hour above +${Math.round(threshold * 100)}% of baseline, not sustained`;
  if (c.hoursAbove > 1)
    return `${c.hoursAbove} scattered hours above +${Math.round(threshold * 100)}% of baseline, none in progress`;
  return `no hour above +${Math.round(threshold * 100)}% of baseline in 48 h`;
}

export function traffic(
  rows: Wire<TrafficRow>[],
  span: Span,
  threshold = 0.2,
): { spiked: boolean; people: boolean; summary: string } {
  const { spike, before } = split(rows, span);
  if (spike.length === 0) return { spiked: false, people: false, summary: 'no whole hour of the spike to compare yet' };
  const req = [sum(spike.map((r) => n(r.requests))), sum(before.map((r) => n(r.requests)))];
  const users = [sum(spike.map((r) => n(r.unique_users))), sum(before.map((r) => n(r.unique_users)))];
  const cost = [sum(spike.map((r) => n(r.total_cost))), sum(before.map((r) => n(r.total_cost)))];
  const cpr = [req[0] ? cost[0] / req[0] : 0, req[1] ? cost[1] / req[1] : 0];
  const spiked = rise(req[0], req[1]) > threshold;
  const flatUsers = spiked && rise(users[0], users[1]) <= threshold;
  return {
    spiked,
    people: spiked && !flatUsers,
    summary:
      `over the spike's ${spike.length} hours vs a day earlier: requests ${pct(rise(req[0], req[1]))}, unique users ${pct(rise(users[0], users[1]))}, cost per request ${pct(rise(cpr[0], cpr[1]))}` +
      (spiked
        ? flatUsers
          ? '; requests up with users flat: bots, abuse or recompute, not people'
          : '; traffic spiked: campaign, viral content, bots or an attack?'
        : '; traffic flat, cost per request up: look at steps 3-6'),
  };
}

export function sources(s: TrafficSources): string {
  const top = s.topUsers[0];
  return (
    `automated user agents ${s.botRequests.baseline} → ${s.botRequests.spike} requests` +
    (top && s.requests.spike ? `; top user ${top.name} sent ${Math.round((100 * top.spike) / s.requests.spike)}%` : '')
  );
}

export function hidden(rows: Wire<HiddenRatioRow>[], threshold: number): { increased: boolean; summary: string } {
  const days = [...rows].sort((a, b) => ms(a.day) - ms(b.day));
  const last = days[days.length - 1];
  if (!last) return { increased: false, summary: 'no events in 7 days' };
  const earlier = days.slice(0, -1);
  const base = earlier.length
    ? sum(earlier.map((d) => n(d.hidden))) / Math.max(1, sum(earlier.map((d) => n(d.total))))
    : 0;
  const now = n(last.hidden_ratio);
  const increased = base > 0 && now > base * (1 + threshold);
  return {
    increased,
    summary: `hidden recompute (undo, retry, auto_save) ${Math.round(now * 100)}% of requests today vs ${Math.round(base * 100)}% over the ${earlier.length} days before${increased ? ': increased' : ''}`,
  };
}

export function flags(rows: FlagRow[]): string {
  return rows.length ? rows.map((f) => `${f.feature}=${f.enabled ? (f.value ?? 'on') : 'off'}`).join(', ') : 'none set';
}

export function changes(o: Observed<ChangeEvent[]>): string {
  if (!o.available) return `change events unavailable: ${o.reason}`;
  if (o.data.length === 0) return 'no change events recorded in the day before the spike';
  return `changes: ${o.data.map((c) => `${c.kind}${c.version ? ` ${c.version}` : ''} at ${c.at}`).join(', ')}`;
}

export function tokens(
  rows: Wire<TokenRow>[],
  span: Span,
  threshold: number,
): { inputUp: boolean; outputUp: boolean; summary: string } {
  const { spike, before } = split(rows, span);
  const avg = (rs: Wire<TokenRow>[], k: 'avg_input' | 'avg_output') =>
    rs.length ? sum(rs.map((r) => n(r[k]))) / rs.length : 0;
  const inp = [avg(spike, 'avg_input'), avg(before, 'avg_input')];
  const out = [avg(spike, 'avg_output'), avg(before, 'avg_output')];
  const p95in = Math.max(0, ...spike.map((r) => n(r.p95_input)));
  const p95out = Math.max(0, ...spike.map((r) => n(r.p95_output)));
  const inputUp = rise(inp[0], inp[1]) > threshold / 2;
  const outputUp = rise(out[0], out[1]) > threshold / 2;
  return {
    inputUp,
    outputUp,
    summary: `average input tokens ${Math.round(inp[1])} → ${Math.round(inp[0])} (${pct(rise(inp[0], inp[1]))}, p95 up to ${Math.round(p95in)}), output ${Math.round(out[1])} → ${Math.round(out[0])} (${pct(rise(out[0], out[1]))}, p95 up to ${Math.round(p95out)})`,
  };
}

export function models(list: ModelUsage[]): string {
  return (
    list
      .slice(0, 3)
      .map(
        (m) =>
          `${m.model} ${m.baseline.requests} → ${m.spike.requests} requests, output ${Math.round(m.baseline.avgOutput)} → ${Math.round(m.spike.avgOutput)}`,
      )
      .join('; ') || 'none recorded'
  );
}

/** The latest day against the days before, per feature. */
export function features(rows: Wire<FeatureRow>[]): { dominant?: string; summary: string } {
  const days = [...new Set(rows.map((r) => ms(r.day)))].sort((a, b) => a - b);
  const last = days[days.length - 1];
  if (last === undefined) return { summary: 'no events in 7 days' };
  const per = new Map<string, { cost: number; req: number; costB: number; reqB: number }>();
  for (const r of rows) {
    const k = r.feature ?? '(none)';
    const e = per.get(k) ?? { cost: 0, req: 0, costB: 0, reqB: 0 };
    if (ms(r.day) === last) {
      e.cost += n(r.total_cost);
      e.req += n(r.requests);
    } else {
      e.costB += n(r.total_cost);
      e.reqB += n(r.requests);
    }
    per.set(k, e);
  }
  const total = sum([...per.values()].map((e) => e.cost));
  const ranked = [...per.entries()].sort((a, b) => b[1].cost - a[1].cost);
  const lines = ranked.slice(0, 3).map(([f, e]) => {
    const cpr = e.req ? e.cost / e.req : 0;
    const cprB = e.reqB ? e.costB / e.reqB : 0;
    return {
      f,
      share: total ? e.cost / total : 0,
      shareB: e.costB,
      cprRise: rise(cpr, cprB),
      text: `${f} ${Math.round((100 * e.cost) / (total || 1))}% of today's cost, ${usd(cpr * 1000)}/1k requests (${pct(rise(cpr, cprB))})`,
    };
  });
  const totalB = sum([...per.values()].map((e) => e.costB));
  const dominant = lines.find(
    (l) => l.cprRise > 0.2 || (totalB > 0 && l.share > (l.shareB / totalB) * 1.2 && l.share >= 0.3),
  )?.f;
  return {
    dominant,
    summary: `${lines.map((l) => l.text).join('; ')}${dominant ? `: ${dominant} is driving costs` : ''}`,
  };
}

export function costliestFeature(rows: Wire<FeatureRow>[]): string | undefined {
  return costliest(rows)?.feature;
}

/** The feature that cost most on the latest day, with its cost and the day's total. */
function costliest(rows: Wire<FeatureRow>[]): { feature: string; cost: number; total: number } | undefined {
  const last = Math.max(...rows.map((r) => ms(r.day)));
  const today = rows.filter((r) => ms(r.day) === last && r.feature);
  const top = [...today].sort((a, b) => n(b.total_cost) - n(a.total_cost))[0];
  return top?.feature
    ? { feature: top.feature, cost: n(top.total_cost), total: sum(today.map((r) => n(r.total_cost))) }
    : undefined;
}

/** A feature's cost per request on the latest day against the days before (the diagnosis's comparison). */
export function featureRise(rows: Wire<FeatureRow>[], feature: string): number | null {
  const last = Math.max(...rows.map((r) => ms(r.day)));
  const mine = rows.filter((r) => r.feature === feature);
  const [today, before] = [mine.filter((r) => ms(r.day) === last), mine.filter((r) => ms(r.day) !== last)];
  const cpr = (rs: typeof rows) => sum(rs.map((r) => n(r.total_cost))) / sum(rs.map((r) => n(r.requests)));
  const [now, then] = [cpr(today), cpr(before)];
  return Number.isFinite(now) && Number.isFinite(then) && then > 0 ? now / then - 1 : null;
}

/** The feature the escalation's cost cap and disable act on, and the rule that chose it. */
export function capTarget(
  diagnosed: string | undefined,
  capFeature: string,
  rows: Wire<FeatureRow>[],
): { feature: string; rule: string } {
  if (diagnosed) return { feature: diagnosed, rule: 'the feature the diagnosis found regressed' };
  if (capFeature) return { feature: capFeature, rule: 'the capFeature parameter; no feature was diagnosed' };
  const top = costliest(rows);
  if (top)
    return {
      feature: top.feature,
      rule: `the costliest feature on the latest day, ${usd(top.cost)} of ${usd(top.total)}; no feature was diagnosed and capFeature is empty`,
    };
  return {
    feature: 'expensive_feature',
    rule: "the seed's placeholder; no feature was diagnosed, capFeature is empty and no feature cost is known",
  };
}

/** What a cause's mitigation aims at, in the words of the approval prompt. */
export function target(
  step: string,
  vars: Record<string, string>,
  features: Wire<FeatureRow>[],
  toolRows: ToolFailureRow[],
): string | undefined {
  if (step === 'throttle-feature' && vars.feature) {
    const r = featureRise(features, vars.feature);
    return `Throttle feature ${vars.feature} (regressed: cost per request ${r === null ? 'n/a' : pct(r)})`;
  }
  if ((step === 'reduce-tool-retries' || step === 'circuit-breaker') && vars.tool) {
    const failing = vars.tool.split(',').map((name) => {
      const t = toolRows.find((x) => x.tool_name === name);
      return t ? `${name} (${Math.round(n(t.failure_rate) * 100)}% of ${n(t.total_calls)} calls failed)` : name;
    });
    return `For the failing tool${failing.length > 1 ? 's' : ''} ${failing.join(', ')}`;
  }
  if (step === 'rate-limit-traffic' && vars.trafficScope)
    return `Rate limit ${vars.trafficScope === 'suspected_bots' ? 'the suspected bots' : `the ${vars.trafficScope} traffic`}`;
  return undefined;
}

export function tools(rows: ToolFailureRow[]): { failing: string[]; summary: string } {
  const failing = rows.filter((t) => n(t.total_calls) >= 20 && n(t.failure_rate) >= 0.1).map((t) => t.tool_name);
  const top = rows
    .slice(0, 3)
    .map(
      (t) =>
        `${t.tool_name} ${Math.round(n(t.failure_rate) * 100)}% of ${n(t.total_calls)} failed, ${n(t.avg_retries).toFixed(2)} retries`,
    );
  return {
    failing,
    summary: rows.length
      ? `${top.join('; ')}${failing.length ? `: high failure rate on ${failing.join(', ')}` : ''}`
      : 'no tool calls in 48 h',
  };
}

/**
 * What a mitigation changes, with the document's values as the parameters filled them; `aim`
 * names what it acts on and why (the regressed feature, the failing tools, the cap's rule).
 */
export function proposal(step: string, v: Record<string, string>, evidence: string[], aim?: string): string {
  const change: Record<string, string> = {
    'reduce-auto-save': `feature_flags auto_save_interval_ms = ${v.autoSaveIntervalMs} (was ${v.previousAutoSaveIntervalMs})`,
    'rate-limit-undo': `feature_flags undo_rate_limit = ${v.undoRateLimit}`,
    'cap-context': `feature_flags max_context_messages = ${v.maxContextMessages} (context = messages[-${v.maxContextMessages}:])`,
    'reduce-tool-retries': `feature_flags max_tool_retries = ${v.maxToolRetries} (was ${v.previousMaxToolRetries})`,
    'circuit-breaker': `feature_flags tool_circuit_breaker: after ${v.circuitBreakerFailures} failures, open for ${v.circuitBreakerRecoverySeconds} s`,
    'throttle-feature': `feature_flags ${v.feature}_throttle = ${v.featureThrottle} per user`,
    'rate-limit-traffic': `feature_flags ${v.trafficScope}_rate_limit = ${v.trafficRateLimit}${v.topUsers ? ` (top users: ${v.topUsers})` : ''}`,
    'rollback-model-or-cap-output': `feature_flags max_output_tokens = ${v.maxOutputTokens}; roll back the model or prompt change`,
    'enable-cost-cap': `the seed's cost cap: disable feature_flags ${v.feature} if the last hour cost more than $${v.costCapUsd}`,
    'disable-feature': `feature_flags ${v.feature} disabled until cost is back to baseline (temporary)`,
  };
  return `${aim ? `${aim}: ` : ''}${change[step] ?? step}. Proposed because: ${evidence.join('; ') || 'the previous mitigation did not hold'}`.slice(
    0,
    800,
  );
}

/** The baseline cost per hour at `atMs`: that hour's mean over the previous days. */
export function baselineAt(history: HourCost[], atMs: number, days: number): number | null {
  const byHour = new Map(history.map((h) => [ms(h.hour), h.cost]));
  const hour = Math.floor(atMs / HOUR) * HOUR;
  const seen: number[] = [];
  for (let d = 1; d <= days; d++) {
    const c = byHour.get(hour - d * DAY);
    if (c !== undefined) seen.push(c);
  }
  return seen.length ? sum(seen) / seen.length : null;
}

export function impact(findings: Finding[], startedMs: number): string {
  const confirm = findings.find((f) => f.step === 'confirm-spike');
  const minutes = Math.round((Date.now() - startedMs) / 60_000);
  return `${minutes} minutes from start to resolution${confirm ? `; ${confirm.summary}` : ''}`;
}

/**
 * The cost's course for "still rising after mitigation": the last `hours` whole hours, then the
 * cost per hour since the mitigation (the stretch of the current hour, normalised to an hour), each
 * with the baseline of its hour.
 */
export function costCourse(
  history: HourCost[],
  since: { sinceMs: number; atMs: number; perHour: number },
  hours: number,
  baselineDays: number,
): TrendPoint[] {
  const from = Math.floor(since.atMs / HOUR) * HOUR - hours * HOUR;
  const whole = history
    .filter((h) => ms(h.hour) >= from && ms(h.hour) + HOUR <= since.atMs)
    .map((h) => ({
      label: new Date(ms(h.hour)).toISOString().slice(11, 16),
      atMs: ms(h.hour) + HOUR / 2,
      perHour: h.cost,
      baseline: baselineAt(history, ms(h.hour), baselineDays),
    }));
  return [
    ...whole,
    {
      label: `the ${lasting(since.atMs - since.sinceMs)} since the mitigation`,
      atMs: (since.sinceMs + since.atMs) / 2,
      perHour: since.perHour,
      baseline: baselineAt(history, since.atMs, baselineDays),
    },
  ];
}
