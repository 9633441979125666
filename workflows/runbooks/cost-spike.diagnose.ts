// Diagnosis for the Cost Spike runbook (seed 003): confirms a sustained spike in the hourly cost
// against a baseline, then splits the extra cost between the seed's causes from the rows of the
// six diagnostics (activities/telemetry.ts) and proposes the seed's mitigation for each, the cause
// explaining most of the extra cost first. Pure and deterministic: it runs inside the workflow.
import type { Cause, Diagnosis } from '../definitions';
import type {
  FeatureRow,
  HiddenRatioRow,
  HourlyCostRow,
  TokenRow,
  ToolFailureRow,
  TrafficRow,
  TriggerRow,
} from '../../activities/telemetry';
import type { HourCost, ModelUsage, TrafficSources } from '../../activities/cost';

export const COST_CAUSES = [
  'traffic_increase',
  'bot_or_abuse',
  'hidden_recompute',
  'context_bloat',
  'output_growth',
  'feature_regression',
  'tool_retry_storm',
] as const;
export type CostCause = (typeof COST_CAUSES)[number] | 'unknown';

/** The seed's mitigations per cause (step 7 and the quick reference), first one proposed. */
export const COST_MITIGATIONS: Record<CostCause, string[]> = {
  traffic_increase: ['rate-limit-traffic'],
  bot_or_abuse: ['rate-limit-traffic'],
  hidden_recompute: ['reduce-auto-save', 'rate-limit-undo'],
  context_bloat: ['cap-context'],
  output_growth: ['rollback-model-or-cap-output'],
  feature_regression: ['throttle-feature'],
  tool_retry_storm: ['reduce-tool-retries', 'circuit-breaker'],
  // Nothing to switch off for an unexplained rise: responders mitigate by hand, the cost cap escalates.
  unknown: [],
};

const HIDDEN = ['undo', 'retry', 'auto_save'];
/** Triggers a person asks for: the rest (hidden ones, tool follow-ups, ...) are machine-made. */
const ORGANIC = ['user', 'regenerate'];
const HOUR = 3_600_000;
/** Default prices (USD per token) if they cannot be fitted from the rows: input $3/M, output $15/M. */
const DEFAULT_PRICE = { input: 3e-6, output: 15e-6 };

/** Rows as the queries return them; after a trip through an activity's JSON, dates are strings. */
export type Wire<T> = { [K in keyof T]: T[K] extends Date ? Date | string : T[K] };

export interface CostSpikeEvidence {
  hourlyCost: Wire<HourlyCostRow>[];
  traffic: Wire<TrafficRow>[];
  triggers: Wire<TriggerRow>[];
  hiddenRatio: Wire<HiddenRatioRow>[];
  tokens: Wire<TokenRow>[];
  features: Wire<FeatureRow>[];
  toolFailures: ToolFailureRow[];
  /** Whole past hours' cost over the baseline days (the 48-hour rows' baseline); absent: a day earlier. */
  history?: HourCost[];
  /** User agents and top users in the spike vs a day earlier (bots). */
  sources?: TrafficSources;
  /** Tokens and cost per model in the spike vs a day earlier (output growth). */
  models?: ModelUsage[];
}

/** Evidence with every diagnostic empty: what the spike's confirmation starts from. */
export const NO_COST_EVIDENCE: CostSpikeEvidence = {
  hourlyCost: [],
  traffic: [],
  triggers: [],
  hiddenRatio: [],
  tokens: [],
  features: [],
  toolFailures: [],
};

export interface CostSpikeOptions {
  /** The queries' `now`, epoch ms. */
  now: number;
  /** Spike when an hour's cost is more than this share above its baseline; default 0.20. */
  threshold?: number;
  /** Consecutive hours above the threshold for a sustained spike; default 2. */
  sustainedHours?: number;
  /** With `history`: the baseline of an hour is its mean over this many previous days; default 7. */
  baselineDays?: number;
}

export interface HourCheck {
  hour: string;
  cost: number;
  baseline: number | null;
  /** How the baseline was taken: the same hour a day earlier, or the mean of the earlier hours. */
  baselineFrom: 'previous_days' | 'day_before' | 'earlier_hours' | null;
  above: boolean;
}

export interface CostSpikeDiagnosis {
  /** A sustained spike: `sustainedHours` or more consecutive hours above the threshold. */
  confirmed: boolean;
  sustained: boolean;
  /** Hours above the threshold (a single one is a blip). */
  hoursAbove: number;
  /** ISO hour the (latest sustained) spike started, else null. */
  startedAt: string | null;
  spikeCost: number;
  baselineCost: number;
  /** spikeCost / baselineCost - 1 over the spike's hours. */
  increase: number;
  hours: HourCheck[];
  diagnosis: Diagnosis;
}

const num = (x: string | number | null | undefined): number => {
  const n = typeof x === 'number' ? x : Number(x ?? 0);
  return Number.isFinite(n) ? n : 0;
};
const ms = (d: Date | string): number => new Date(d).getTime();
const iso = (t: number): string => new Date(t).toISOString();
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${Math.round(x * 100)}%`;
const usd = (x: number): string => `$${x.toFixed(2)}`;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Least squares cost = a * inputTokens + b * outputTokens over the hours; null if ill-posed. */
function fitPrices(
  points: { input: number; output: number; cost: number }[],
): { input: number; output: number } | null {
  let sii = 0;
  let soo = 0;
  let sio = 0;
  let sic = 0;
  let soc = 0;
  for (const p of points) {
    sii += p.input * p.input;
    soo += p.output * p.output;
    sio += p.input * p.output;
    sic += p.input * p.cost;
    soc += p.output * p.cost;
  }
  const det = sii * soo - sio * sio;
  if (!(Math.abs(det) > 1e-9 * sii * soo)) return null;
  const a = (sic * soo - soc * sio) / det;
  const b = (soc * sii - sic * sio) / det;
  return a > 0 && b > 0 ? { input: a, output: b } : null;
}

export function diagnoseCostSpike(evidence: CostSpikeEvidence, options: CostSpikeOptions): CostSpikeDiagnosis {
  const threshold = options.threshold ?? 0.2;
  const needed = Math.max(1, Math.floor(options.sustainedHours ?? 2));
  const now = options.now;
  const windowStart = now - 48 * HOUR;

  // Step 1: whole hours only (the partial ones at both ends of the 48 hours would skew the sums).
  const whole = (t: number) => t >= windowStart && t + HOUR <= now;
  const costByHour = new Map<number, number>();
  for (const r of evidence.hourlyCost) if (whole(ms(r.hour))) costByHour.set(ms(r.hour), num(r.total_cost));
  const ordered = [...costByHour.keys()].sort((a, b) => a - b);
  const hasDayBefore = ordered.some((t) => costByHour.has(t - 24 * HOUR));
  const past = new Map((evidence.history ?? []).map((h) => [ms(h.hour), h.cost]));
  const baselineDays = Math.max(1, Math.floor(options.baselineDays ?? 7));
  const hours: HourCheck[] = ordered.map((t, i) => {
    const cost = costByHour.get(t) ?? 0;
    let baseline: number | null = null;
    let baselineFrom: HourCheck['baselineFrom'] = null;
    const sameHours = [];
    for (let d = 1; d <= baselineDays; d++) {
      const c = past.get(t - d * 24 * HOUR);
      if (c !== undefined) sameHours.push(c);
    }
    if (sameHours.length > 0) {
      baseline = sum(sameHours) / sameHours.length;
      baselineFrom = 'previous_days';
    } else if (costByHour.has(t - 24 * HOUR)) {
      baseline = costByHour.get(t - 24 * HOUR) ?? null;
      baselineFrom = 'day_before';
    } else if (!hasDayBefore && i >= 3) {
      baseline = sum(ordered.slice(0, i).map((x) => costByHour.get(x) ?? 0)) / i;
      baselineFrom = 'earlier_hours';
    }
    const above = baseline !== null && baseline > 0 && cost > baseline * (1 + threshold);
    return { hour: iso(t), cost, baseline, baselineFrom, above };
  });

  // The spike in progress: the run of consecutive hours above the threshold that reaches the last
  // whole hour (or the one before: a dip in the latest hour does not end it). An earlier run that
  // has ended, e.g. a weekday against its Sunday baseline a day ago, is not the incident.
  let run: HourCheck[] = [];
  for (let i = hours.length - 1; i >= Math.max(0, hours.length - 2) && run.length === 0; i--) {
    if (!hours[i].above) continue;
    let j = i;
    while (j > 0 && hours[j - 1].above) j--;
    if (i - j + 1 >= needed) run = hours.slice(j, i + 1);
  }
  const hoursAbove = hours.filter((h) => h.above).length;
  const sustained = run.length >= needed;
  const spikeCost = sum(run.map((h) => h.cost));
  const baselineCost = sum(run.map((h) => h.baseline ?? 0));
  const increase = baselineCost > 0 ? spikeCost / baselineCost - 1 : 0;
  const base = {
    confirmed: sustained,
    sustained,
    hoursAbove,
    startedAt: run[0]?.hour ?? null,
    spikeCost,
    baselineCost,
    increase,
    hours,
  };
  if (!sustained) return { ...base, startedAt: null, diagnosis: { primary: 'no spike', causes: [] } };

  // The hours compared: the spike's and their baselines (same hours a day earlier, or earlier hours).
  const spikeSet = new Set(run.map((h) => ms(h.hour)));
  // Attribution compares the spike's hours with the same hours a day earlier, which the seed's
  // 48-hour queries return, whatever baseline confirmed the spike.
  const dayBefore = run.every((h) => costByHour.has(ms(h.hour) - 24 * HOUR));
  const baseSet = new Set(
    dayBefore ? run.map((h) => ms(h.hour) - 24 * HOUR) : ordered.filter((t) => t < ms(run[0].hour)),
  );
  // Earlier-hours baselines cover a different number of hours: scale them to the spike's length.
  const scale = dayBefore ? 1 : run.length / Math.max(1, baseSet.size);
  const inS = (d: Date | string) => spikeSet.has(ms(d));
  const inB = (d: Date | string) => baseSet.has(ms(d));
  const started = run[0].hour;
  const excess = spikeCost - (dayBefore ? sum([...baseSet].map((t) => costByHour.get(t) ?? 0)) : baselineCost);
  const window = `${run.length} h from ${started}`;

  // Step 2: traffic.
  const tS = evidence.traffic.filter((r) => inS(r.hour));
  const tB = evidence.traffic.filter((r) => inB(r.hour));
  const reqS = sum(tS.map((r) => num(r.requests)));
  const reqB = sum(tB.map((r) => num(r.requests))) * scale;
  const usersS = sum(tS.map((r) => num(r.unique_users)));
  const usersB = sum(tB.map((r) => num(r.unique_users))) * scale;
  const costB = sum(tB.map((r) => num(r.total_cost))) * scale;
  const cprB = reqB > 0 ? costB / reqB : 0;

  // Step 3: triggers. Organic demand is measured by the `user` trigger; every trigger's count beyond
  // its baseline share of that demand is machine-made extra work.
  const trig = (pick: (d: Date | string) => boolean, f: number) => {
    const m = new Map<string, { count: number; cost: number }>();
    for (const r of evidence.triggers)
      if (pick(r.hour)) {
        const k = r.trigger_type ?? '(none)';
        const e = m.get(k) ?? { count: 0, cost: 0 };
        e.count += num(r.count) * f;
        e.cost += num(r.cost) * f;
        m.set(k, e);
      }
    return m;
  };
  const trS = trig(inS, 1);
  const trB = trig(inB, scale);
  const userB = trB.get('user')?.count ?? 0;
  const userS = trS.get('user')?.count ?? 0;
  const demand = userB > 0 && reqB > 0 ? userS / (userB / reqB) : reqS;
  const triggerExcess = new Map<string, { count: number; cost: number; shareS: number; shareB: number }>();
  for (const [k, v] of trS) {
    const b = trB.get(k) ?? { count: 0, cost: 0 };
    const expected = reqB > 0 ? (b.count / reqB) * demand : 0;
    const extra = v.count - expected;
    triggerExcess.set(k, {
      count: extra,
      cost: v.count > 0 ? extra * (v.cost / v.count) : 0,
      shareS: reqS > 0 ? v.count / reqS : 0,
      shareB: reqB > 0 ? b.count / reqB : 0,
    });
  }
  const explained = new Map<
    CostCause,
    { cost: number; evidence: string[]; mitigation?: string; vars?: Record<string, string> }
  >();
  // `vars`: what the cause's mitigation acts on (the regressed feature, the failing tools, ...).
  const add = (cause: CostCause, cost: number, why: string[], mitigation?: string, vars?: Record<string, string>) => {
    const e = explained.get(cause) ?? { cost: 0, evidence: [] };
    e.cost += cost;
    e.evidence.push(...why);
    if (mitigation) e.mitigation = mitigation;
    if (vars) e.vars = { ...e.vars, ...vars };
    explained.set(cause, e);
  };

  // Hidden recompute: undo / retry / auto_save beyond their usual share.
  const hiddenParts = HIDDEN.map((k) => ({
    k,
    ...(triggerExcess.get(k) ?? { count: 0, cost: 0, shareS: 0, shareB: 0 }),
  }));
  const hiddenCost = sum(hiddenParts.map((p) => Math.max(0, p.cost)));
  const hiddenShareS = sum(hiddenParts.map((p) => p.shareS));
  const hiddenShareB = sum(hiddenParts.map((p) => p.shareB));
  if (hiddenCost > 0) {
    const top = [...hiddenParts].sort((a, b) => b.cost - a.cost)[0];
    const days = [...evidence.hiddenRatio].sort((a, b) => ms(a.day) - ms(b.day));
    const daily = days
      .map((d) => `${iso(ms(d.day)).slice(0, 10)} ${Math.round(num(d.hidden_ratio) * 100)}%`)
      .join(', ');
    add(
      'hidden_recompute',
      hiddenCost,
      [
        `hidden share (undo/retry/auto_save) ${Math.round(hiddenShareS * 100)}% of requests over ${window} vs ${Math.round(hiddenShareB * 100)}% at baseline; ${Math.round(sum(hiddenParts.map((p) => Math.max(0, p.count))))} extra hidden requests costing ${usd(hiddenCost)}`,
        ...hiddenParts
          .filter((p) => p.count > 0)
          .map((p) => `${p.k}: ${Math.round(p.count)} extra requests (${usd(p.cost)})`),
        ...(daily ? [`daily hidden ratio: ${daily}`] : []),
      ],
      top.k === 'undo' ? 'rate-limit-undo' : 'reduce-auto-save',
    );
  }

  // Step 6 and machine-made triggers other than hidden ones (e.g. tool follow-ups).
  const tools = evidence.toolFailures.map((t) => ({
    name: t.tool_name,
    calls: num(t.total_calls),
    rate: num(t.failure_rate),
    retries: num(t.avg_retries),
  }));
  const rates = tools.map((t) => t.rate).sort((a, b) => a - b);
  const medianRate = rates.length ? rates[Math.floor(rates.length / 2)] : 0;
  const failing = tools.filter((t) => t.calls >= 20 && t.rate >= 0.08 && t.rate >= 3 * medianRate);
  const otherMachine = [...triggerExcess.entries()].filter(
    ([k, v]) => !HIDDEN.includes(k) && !ORGANIC.includes(k) && k !== '(none)' && v.cost > 0,
  );
  const machineCost = sum(otherMachine.map(([, v]) => v.cost));
  const machineWhy = otherMachine.map(
    ([k, v]) =>
      `trigger ${k}: ${Math.round(v.count)} extra requests (${Math.round(v.shareS * 100)}% of requests vs ${Math.round(v.shareB * 100)}% at baseline) costing ${usd(v.cost)} over ${window}`,
  );
  if (failing.length > 0) {
    add(
      'tool_retry_storm',
      machineCost,
      [
        ...failing.map(
          (t) =>
            `tool ${t.name}: ${Math.round(t.rate * 100)}% of ${t.calls} calls failed over 48 h (median tool ${Math.round(medianRate * 100)}%), ${t.retries.toFixed(2)} retries per call`,
        ),
        ...machineWhy,
      ],
      failing.some((t) => t.rate >= 0.3) ? 'circuit-breaker' : 'reduce-tool-retries',
      { tool: failing.map((t) => t.name).join(',') },
    );
  } else if (machineCost > 0) add('unknown', machineCost, machineWhy);

  // Organic demand beyond the baseline: people (users up) or a few clients (users flat).
  const organicCost = (demand - reqB) * cprB;
  if (organicCost > 0 && reqB > 0) {
    const demandUp = demand / reqB - 1;
    const usersUp = usersB > 0 ? usersS / usersB - 1 : 0;
    // Requests from automated agents beyond a day earlier are not people, whatever the user count says.
    const src = evidence.sources;
    const botShare = src
      ? Math.min(
          1,
          Math.max(0, src.botRequests.spike - src.botRequests.baseline) /
            Math.max(1, src.requests.spike - src.requests.baseline),
        )
      : 0;
    const people = Math.min(1, Math.max(0, usersUp / demandUp), 1 - botShare);
    const clients = src ? sourceEvidence(src) : [];
    // A rate limit aims at the busiest users; bots and abuse are limited apart from people.
    const topUsers = src?.topUsers.length
      ? {
          topUsers: src.topUsers
            .slice(0, 5)
            .map((u) => u.name)
            .join(','),
        }
      : undefined;
    const why = `requests ${pct(reqS / reqB - 1)} (organic ${pct(demandUp)}), unique users ${pct(usersUp)} over ${window}: ${Math.round(reqS)} requests, ${Math.round(usersS)} user-hours vs ${Math.round(reqB)} and ${Math.round(usersB)}`;
    if (people > 0)
      add(
        'traffic_increase',
        organicCost * people,
        [why, 'ask the responder about a campaign or viral content'],
        undefined,
        topUsers,
      );
    if (people < 1)
      add(
        'bot_or_abuse',
        organicCost * (1 - people),
        [
          why,
          'requests rose without more users: a few clients send most of them (check user agents and rate-limit hits)',
          ...clients,
        ],
        undefined,
        { trafficScope: 'suspected_bots', ...topUsers },
      );
  }

  // Step 4 and 5: cost per request from tokens, and which features carry it.
  const tkS = evidence.tokens.filter((r) => inS(r.hour));
  const tkB = evidence.tokens.filter((r) => inB(r.hour));
  const reqAt = new Map(evidence.traffic.map((r) => [ms(r.hour), num(r.requests)]));
  const costAt = new Map(evidence.traffic.map((r) => [ms(r.hour), num(r.total_cost)]));
  const weighted = (rows: Wire<TokenRow>[], pick: (r: Wire<TokenRow>) => number) => {
    const n = sum(rows.map((r) => reqAt.get(ms(r.hour)) ?? 0));
    return n > 0 ? sum(rows.map((r) => pick(r) * (reqAt.get(ms(r.hour)) ?? 0))) / n : 0;
  };
  const inS_ = weighted(tkS, (r) => num(r.avg_input));
  const inB_ = weighted(tkB, (r) => num(r.avg_input));
  const outS = weighted(tkS, (r) => num(r.avg_output));
  const outB = weighted(tkB, (r) => num(r.avg_output));
  const prices =
    fitPrices(
      evidence.tokens
        .filter((r) => whole(ms(r.hour)) && reqAt.has(ms(r.hour)))
        .map((r) => {
          const n = reqAt.get(ms(r.hour)) ?? 0;
          return { input: num(r.avg_input) * n, output: num(r.avg_output) * n, cost: costAt.get(ms(r.hour)) ?? 0 };
        }),
    ) ?? DEFAULT_PRICE;
  const inputCost = Math.max(0, reqS * (inS_ - inB_) * prices.input);
  const outputCost = Math.max(0, reqS * (outS - outB) * prices.output);
  const p95 = (rows: Wire<TokenRow>[], pick: (r: Wire<TokenRow>) => number) =>
    rows.length ? Math.max(...rows.map(pick)) : 0;

  // Feature attribution: the latest day's cost per request against the earlier days', per feature.
  const dayList = [...new Set(evidence.features.map((r) => ms(r.day)))].sort((a, b) => a - b);
  const lastDay = dayList[dayList.length - 1];
  const perFeature = new Map<string, { reqL: number; costL: number; reqP: number; costP: number }>();
  for (const r of evidence.features) {
    const k = r.feature ?? '(none)';
    const e = perFeature.get(k) ?? { reqL: 0, costL: 0, reqP: 0, costP: 0 };
    if (ms(r.day) === lastDay) {
      e.reqL += num(r.requests);
      e.costL += num(r.total_cost);
    } else {
      e.reqP += num(r.requests);
      e.costP += num(r.total_cost);
    }
    perFeature.set(k, e);
  }
  const featureRise = [...perFeature.entries()]
    .filter(([, e]) => e.reqL > 0 && e.reqP > 0)
    .map(([feature, e]) => {
      const cprL = e.costL / e.reqL;
      const cprP = e.costP / e.reqP;
      return { feature, cprL, cprP, extra: Math.max(0, e.reqL * (cprL - cprP)) };
    })
    .sort((a, b) => b.extra - a.extra);
  const featureExtra = sum(featureRise.map((f) => f.extra));
  const topFeature = featureRise[0];
  const tokenCost = inputCost + outputCost;
  let remainingInput = inputCost;
  let remainingOutput = outputCost;
  if (
    topFeature &&
    featureRise.length >= 3 &&
    featureExtra > 0 &&
    topFeature.extra / featureExtra >= 0.6 &&
    topFeature.cprL > topFeature.cprP * (1 + threshold) &&
    tokenCost > 0
  ) {
    const share = topFeature.extra / featureExtra;
    add(
      'feature_regression',
      tokenCost * share,
      [
        `feature ${topFeature.feature}: cost per request ${usd(topFeature.cprL * 1000)}/1k requests on ${iso(lastDay).slice(0, 10)} vs ${usd(topFeature.cprP * 1000)}/1k on the ${dayList.length - 1} days before (${pct(topFeature.cprL / topFeature.cprP - 1)}), ${Math.round(share * 100)}% of the features' extra cost`,
        `tokens per request over ${window}: input ${Math.round(inB_)} → ${Math.round(inS_)}, output ${Math.round(outB)} → ${Math.round(outS)}`,
      ],
      'throttle-feature',
      { feature: topFeature.feature },
    );
    remainingInput *= 1 - share;
    remainingOutput *= 1 - share;
  }
  if (remainingInput > 0 && inS_ > inB_ * (1 + threshold / 2))
    add(
      'context_bloat',
      remainingInput,
      [
        `average input tokens ${Math.round(inB_)} → ${Math.round(inS_)} (${pct(inS_ / inB_ - 1)}) over ${window}, p95 up to ${Math.round(p95(tkS, (r) => num(r.p95_input)))} vs ${Math.round(p95(tkB, (r) => num(r.p95_input)))}; ${usd(remainingInput)} of the extra cost`,
      ],
      'cap-context',
    );
  if (remainingOutput > 0 && outS > outB * (1 + threshold / 2))
    add(
      'output_growth',
      remainingOutput,
      [
        `average output tokens ${Math.round(outB)} → ${Math.round(outS)} (${pct(outS / outB - 1)}) over ${window}, p95 up to ${Math.round(p95(tkS, (r) => num(r.p95_output)))} vs ${Math.round(p95(tkB, (r) => num(r.p95_output)))}; ${usd(remainingOutput)} of the extra cost (model, sampling or format change)`,
        modelEvidence(evidence.models ?? []),
      ],
      'rollback-model-or-cap-output',
    );

  // Rank by the share of the extra cost each explains; causes under 10 % are noise.
  const header = `cost ${usd(spikeCost)} over ${window} vs ${usd(baselineCost)} baseline (${pct(increase)})`;
  let causes: Cause[] = [...explained.entries()]
    .filter(([, v]) => excess > 0 && v.cost / excess >= 0.1)
    .map(([cause, v]) => ({
      cause,
      score: Math.round(Math.min(1, v.cost / excess) * 100) / 100,
      evidence: [header, ...v.evidence],
      mitigation: v.mitigation ?? COST_MITIGATIONS[cause][0] ?? '',
      ...(v.vars ? { vars: v.vars } : {}),
    }))
    .sort((a, b) => b.score - a.score || COST_CAUSES.indexOf(a.cause as never) - COST_CAUSES.indexOf(b.cause as never));
  const named = causes.filter((c) => c.cause !== 'unknown');
  if (named.length === 0 && !causes.some((c) => c.cause === 'unknown'))
    causes = [
      {
        cause: 'unknown',
        score: 0,
        evidence: [header, 'no diagnostic explains the extra cost'],
        mitigation: '',
      },
    ];
  return { ...base, diagnosis: { primary: causes[0].cause, causes } };
}

/** Every mitigation to offer, in order: each cause's options, most likely cause first. */
export function costMitigationPlan(diagnosis: Diagnosis): string[] {
  const plan: string[] = [];
  for (const c of diagnosis.causes)
    for (const o of [c.mitigation, ...(COST_MITIGATIONS[c.cause as CostCause] ?? [])])
      if (o && !plan.includes(o)) plan.push(o);
  return plan;
}

/** Which agents and users sent the extra requests. */
function sourceEvidence(src: TrafficSources): string[] {
  const rising = src.userAgents
    .filter((a) => a.spike > a.baseline * 1.5 && a.spike - a.baseline >= 10)
    .slice(0, 3)
    .map((a) => `${a.name} ${a.baseline} → ${a.spike}`);
  const top = src.topUsers.slice(0, 3);
  const topShare = src.requests.spike > 0 ? sum(top.map((u) => u.spike)) / src.requests.spike : 0;
  return [
    `automated user agents: ${src.botRequests.baseline} → ${src.botRequests.spike} requests` +
      (rising.length ? `; rising agents: ${rising.join(', ')}` : ''),
    `top users ${top.map((u) => `${u.name} (${u.spike})`).join(', ')} sent ${Math.round(topShare * 100)}% of the spike's requests`,
  ];
}

/** "Use the model column to say which": a model new in the spike, or the one whose output grew most. */
function modelEvidence(models: ModelUsage[]): string {
  if (models.length === 0)
    return 'model: not recorded in the telemetry (check deploys for a model, sampling or format change)';
  const fresh = models.filter((m) => m.spike.requests > 0 && m.baseline.requests === 0);
  if (fresh.length)
    return `model changed: ${fresh.map((m) => `${m.model} (${m.spike.requests} requests, ${Math.round(m.spike.avgOutput)} output tokens on average)`).join(', ')} not seen a day earlier`;
  const grown = [...models]
    .filter((m) => m.spike.requests > 0 && m.baseline.requests > 0)
    .sort((a, b) => b.spike.avgOutput / b.baseline.avgOutput - a.spike.avgOutput / a.baseline.avgOutput)[0];
  return grown
    ? `same models as a day earlier; ${grown.model} output ${Math.round(grown.baseline.avgOutput)} → ${Math.round(grown.spike.avgOutput)} tokens: sampling, prompt or format change`
    : 'model: no requests to compare';
}

/** A point of the cost's course: its cost per hour, centred at `atMs`, against that hour's baseline. */
export interface TrendPoint {
  label: string;
  atMs: number;
  perHour: number;
  baseline: number | null;
}

export interface CostTrend {
  /** "Costs still rising": the fitted slope is positive and at least `minSlope`. */
  rising: boolean;
  /** Least-squares slope of the cost over its baseline, in baselines per hour (null: no baseline). */
  slope: number | null;
  /** The same fit over the raw cost, USD per hour per hour. */
  slopeUsd: number;
  points: TrendPoint[];
  summary: string;
}

/** Least-squares slope of y over x; null with fewer than two distinct x. */
export function leastSquaresSlope(points: { x: number; y: number }[]): number | null {
  if (points.length < 2) return null;
  const mx = sum(points.map((p) => p.x)) / points.length;
  const my = sum(points.map((p) => p.y)) / points.length;
  const sxx = sum(points.map((p) => (p.x - mx) ** 2));
  if (!(sxx > 0)) return null;
  return sum(points.map((p) => (p.x - mx) * (p.y - my))) / sxx;
}

/**
 * "If costs are still rising after mitigation": the slope of the cost per hour over the last
 * hours and the stretch since the mitigation. The cost is taken over its baseline (the same hour
 * on the previous days) so the day's own rhythm, a morning ramp or an evening fall, is not read
 * as the incident growing or easing; without a baseline for every point, the raw cost relative to
 * its mean. Rising needs a slope of at least `minSlope` baselines (or means) per hour.
 */
export function costTrend(points: TrendPoint[], minSlope: number): CostTrend {
  const ordered = [...points].sort((a, b) => a.atMs - b.atMs);
  const x = (p: TrendPoint) => p.atMs / HOUR;
  const slopeUsd = leastSquaresSlope(ordered.map((p) => ({ x: x(p), y: p.perHour }))) ?? 0;
  const relative = ordered.every((p) => p.baseline !== null && p.baseline > 0);
  const mean = sum(ordered.map((p) => p.perHour)) / Math.max(1, ordered.length);
  const slope = leastSquaresSlope(
    ordered.map((p) => ({
      x: x(p),
      y: relative ? p.perHour / (p.baseline as number) : mean > 0 ? p.perHour / mean : 0,
    })),
  );
  const rising = slope !== null && slope > 0 && slope >= minSlope;
  const unit = relative ? '× baseline' : '× their mean';
  const course = ordered
    .map(
      (p) => `${p.label} ${usd(p.perHour)}/h${p.baseline ? ` (${(p.perHour / p.baseline).toFixed(2)}× baseline)` : ''}`,
    )
    .join(', ');
  const fit =
    slope === null
      ? 'too few points to fit a slope'
      : `slope ${slope >= 0 ? '+' : ''}${slope.toFixed(3)}${unit} per hour (${slopeUsd >= 0 ? '+' : '-'}${usd(Math.abs(slopeUsd))}/h per hour)`;
  const verdict = rising
    ? 'still rising'
    : slope === null
      ? 'trend unknown'
      : slope > 0
        ? `not rising meaningfully (rising needs +${minSlope}${unit} per hour)`
        : slope < 0
          ? 'falling'
          : 'flat';
  return { rising, slope, slopeUsd, points: ordered, summary: `${verdict}: ${fit}; ${course}` };
}
