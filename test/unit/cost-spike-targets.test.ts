// The cost-spike runbook's aim and its escalation rule, as pure functions: a mitigation names what
// its cause found (the regressed feature, the failing tools), the cost cap's feature is chosen by a
// stated rule, and "if costs are still rising after mitigation" is the least-squares slope of the
// cost over its baseline across the last hours and the stretch since the mitigation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HourCost } from '../../activities/cost';
import type { FeatureRow, ToolFailureRow } from '../../activities/telemetry';
import { costTrend, leastSquaresSlope, type TrendPoint, type Wire } from '../../workflows/runbooks/cost-spike.diagnose';
import * as summarize from '../../workflows/runbooks/cost-spike.summaries';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-10T12:00:00Z');

/** Hours at T0, T0+1h, ... with their costs and baselines; `at` is each hour's middle. */
const hours = (costs: number[], baselines: (number | null)[]): TrendPoint[] =>
  costs.map((perHour, i) => ({
    label: `h${i}`,
    atMs: T0 + i * HOUR + HOUR / 2,
    perHour,
    baseline: baselines[i],
  }));

test('leastSquaresSlope: the fitted line, and none from fewer than two distinct x', () => {
  assert.equal(
    leastSquaresSlope([
      { x: 0, y: 1 },
      { x: 1, y: 3 },
      { x: 2, y: 5 },
    ]),
    2,
  );
  const noisy = leastSquaresSlope([
    { x: 0, y: 1 },
    { x: 1, y: 2 },
    { x: 2, y: 2 },
    { x: 3, y: 4 },
  ]);
  assert.ok(noisy !== null && Math.abs(noisy - 0.9) < 1e-12, String(noisy));
  assert.equal(
    leastSquaresSlope([
      { x: 0, y: 1 },
      { x: 1, y: 1 },
    ]),
    0,
  );
  assert.equal(leastSquaresSlope([{ x: 0, y: 1 }]), null);
  assert.equal(
    leastSquaresSlope([
      { x: 1, y: 1 },
      { x: 1, y: 5 },
    ]),
    null,
  );
});

test('costTrend: rising over the baseline escalates, with the figures', () => {
  const t = costTrend(hours([120, 150, 200, 260], [100, 100, 100, 100]), 0.05);
  assert.equal(t.rising, true);
  assert.ok(t.slope !== null && Math.abs(t.slope - 0.47) < 1e-9, String(t.slope));
  assert.ok(Math.abs(t.slopeUsd - 47) < 1e-9);
  assert.match(
    t.summary,
    /^still rising: slope \+0\.470× baseline per hour \(\+\$47\.00\/h per hour\); h0 \$120\.00\/h \(1\.20× baseline\)/,
  );
});

test('costTrend: above the limit but flat or falling is not rising', () => {
  const flat = costTrend(hours([150, 150, 150], [100, 100, 100]), 0.05);
  assert.equal(flat.rising, false);
  assert.equal(flat.slope, 0);
  assert.match(flat.summary, /^flat: slope \+0\.000× baseline per hour/);
  const falling = costTrend(hours([170, 170, 170, 140], [100, 100, 100, 100]), 0.05);
  assert.equal(falling.rising, false);
  assert.match(falling.summary, /^falling: slope -0\.\d+× baseline per hour \(-\$\d+\.\d\d\/h per hour\)/);
  // Up, but by less than the meaningful slope (5 % of the baseline an hour).
  const slight = costTrend(hours([150, 151, 152], [100, 100, 100]), 0.05);
  assert.equal(slight.rising, false);
  assert.match(slight.summary, /^not rising meaningfully \(rising needs \+0\.05× baseline per hour\)/);
});

test("costTrend: the day's own rhythm is not the incident growing or easing", () => {
  // An evening: the usual cost falls hour by hour, the cost falls less. The spike grows.
  const evening = costTrend(hours([200, 180, 170], [100, 80, 60]), 0.05);
  assert.ok(evening.slopeUsd < 0, 'the raw cost falls');
  assert.equal(evening.rising, true, evening.summary);
  // A morning ramp: the cost rises with the usual cost, 1.5× all along. Not rising.
  const morning = costTrend(hours([90, 120, 150], [60, 80, 100]), 0.05);
  assert.ok(morning.slopeUsd > 0, 'the raw cost rises');
  assert.equal(morning.rising, false, morning.summary);
  assert.equal(morning.slope, 0);
});

test('costTrend: without a baseline for every point, the cost relative to its mean; one point is unknown', () => {
  const t = costTrend(hours([100, 150, 200], [100, null, 100]), 0.05);
  assert.equal(t.rising, true);
  assert.ok(t.slope !== null && Math.abs(t.slope - 50 / 150) < 1e-9);
  assert.match(t.summary, /× their mean per hour/);
  const one = costTrend(hours([300], [100]), 0.05);
  assert.equal(one.slope, null);
  assert.equal(one.rising, false);
  assert.match(one.summary, /^trend unknown: too few points/);
});

test('costCourse: the last whole hours and the stretch since the mitigation, each against its baseline', () => {
  const history: HourCost[] = [];
  // Eight days of hours at $10, the last four at $15, $16, $17, $18.
  for (let t = T0 - 8 * 24 * HOUR; t < T0; t += HOUR)
    history.push({ hour: new Date(t).toISOString(), cost: 10, requests: 1 });
  for (let i = 4; i >= 1; i--) history[history.length - i].cost = 19 - i;
  const since = { sinceMs: T0 + 10 * 60_000, atMs: T0 + 16 * 60_000, perHour: 12 };
  const points = summarize.costCourse(history, since, 3, 7);
  assert.deepEqual(
    points.map((p) => [p.label, p.perHour, p.baseline]),
    [
      ['09:00', 16, 10],
      ['10:00', 17, 10],
      ['11:00', 18, 10],
      ['the 6 min since the mitigation', 12, 10],
    ],
  );
  assert.equal(points[3].atMs, T0 + 13 * 60_000);
  const t = costTrend(points, 0.05);
  assert.equal(t.rising, false, t.summary);
});

const day = (d: string, feature: string, requests: number, cost: number): Wire<FeatureRow> => ({
  day: d,
  feature,
  requests: String(requests),
  total_cost: String(cost),
  cost_per_request: String(cost / requests),
});
const FEATURES = [
  day('2026-03-09', 'chat', 1000, 10),
  day('2026-03-09', 'summarize', 400, 4),
  day('2026-03-10', 'chat', 1000, 10),
  day('2026-03-10', 'summarize', 200, 6),
];

test('featureRise: the latest day against the days before', () => {
  assert.ok(Math.abs((summarize.featureRise(FEATURES, 'summarize') ?? 0) - 2) < 1e-9);
  assert.equal(summarize.featureRise(FEATURES, 'chat'), 0);
  assert.equal(summarize.featureRise(FEATURES, 'search'), null);
});

test('capTarget: the regressed feature, else capFeature, else the costliest, and says which rule chose it', () => {
  assert.deepEqual(summarize.capTarget('summarize', 'chat', FEATURES), {
    feature: 'summarize',
    rule: 'the feature the diagnosis found regressed',
  });
  assert.deepEqual(summarize.capTarget(undefined, 'doc_qa', FEATURES), {
    feature: 'doc_qa',
    rule: 'the capFeature parameter; no feature was diagnosed',
  });
  const costliest = summarize.capTarget(undefined, '', FEATURES);
  assert.equal(costliest.feature, 'chat');
  assert.match(costliest.rule, /^the costliest feature on the latest day, \$10\.00 of \$16\.00;/);
  assert.equal(summarize.capTarget(undefined, '', []).feature, 'expensive_feature');
});

test('proposal: names the target first, then the change and the evidence', () => {
  const vars = { feature: 'summarize', featureThrottle: '10/hour' };
  const aim = summarize.target('throttle-feature', vars, FEATURES, []);
  assert.equal(aim, 'Throttle feature summarize (regressed: cost per request +200%)');
  assert.equal(
    summarize.proposal('throttle-feature', vars, ['feature summarize: cost per request up'], aim),
    'Throttle feature summarize (regressed: cost per request +200%): feature_flags summarize_throttle = 10/hour per user. Proposed because: feature summarize: cost per request up',
  );
  const tools: ToolFailureRow[] = [
    { tool_name: 'web_search', total_calls: '200', failures: '90', failure_rate: 0.45, avg_retries: '3' },
    { tool_name: 'code_exec', total_calls: '100', failures: '40', failure_rate: 0.4, avg_retries: '2' },
  ];
  assert.equal(
    summarize.target('circuit-breaker', { tool: 'web_search,code_exec' }, [], tools),
    'For the failing tools web_search (45% of 200 calls failed), code_exec (40% of 100 calls failed)',
  );
  assert.equal(
    summarize.target('rate-limit-traffic', { trafficScope: 'suspected_bots' }, [], []),
    'Rate limit the suspected bots',
  );
  assert.equal(summarize.target('cap-context', {}, [], []), undefined);
  // Without an aim (incidents started before), the prompt reads as it did.
  assert.match(summarize.proposal('throttle-feature', vars, []), /^feature_flags summarize_throttle/);
});
