// The Anthropic API incident document's severity table and decision tree, as the runbook applies
// them: a claim only where the evidence holds it. No test request and no app metric is "not tested",
// never healthy; a 400/404 is a misconfigured request, not a provider failure; from a handful of test
// requests, "at or above 5 %" needs the lower end of a 95 % Wilson interval at or above 5 %.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { ProbeResult } from '../../activities/provider';
import {
  BRANCH_MITIGATIONS,
  BRANCH_STEP,
  classify,
  diagnoseProvider,
  wilsonInterval,
  type AppSignals,
} from '../../workflows/runbooks/llm-provider-incident.classify';
import { LLM_PROVIDER_DEFAULTS } from '../../workflows/runbooks/llm-provider-incident.params';
import { LLM_PROVIDER_STEPS } from '../../workflows/runbooks/llm-provider-incident.steps';

const OPTS = {
  p99LatencyMs: 10_000,
  intermittentErrorRate: 0.05,
  qualityThreshold: 0.8,
  degradedQualityReported: false,
};
const NO_APP: AppSignals = { errorRatio: null, p99Ms: null, quality: null };

function probe(status: number | null, extra: Partial<ProbeResult> = {}): ProbeResult {
  const ok = status === 200;
  const types: Record<number, string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    404: 'not_found_error',
    429: 'rate_limit_error',
    500: 'api_error',
    529: 'overloaded_error',
  };
  return {
    status,
    outcome: ok ? 'ok' : status === null ? 'connection' : 'error',
    latencyMs: 300,
    requestId: `req_${Math.random().toString(36).slice(2, 8)}`,
    errorType: ok || status === null ? (status === null ? 'APIConnectionError' : null) : (types[status] ?? 'error'),
    message: ok ? null : status === 404 ? 'model: claude-haiku-4-20250514' : 'failed',
    rateLimit: {},
    at: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}
const probes = (...statuses: (number | null)[]) => statuses.map((s) => probe(s));

test('no test request and no app metric: not tested, never healthy, with the reason', () => {
  const c = classify([], NO_APP, OPTS, 'ANTHROPIC_API_KEY is not set');
  assert.equal(c.severity, null);
  assert.equal(c.verdict, 'not_tested');
  assert.deepEqual(c.reasons, ['not tested: ANTHROPIC_API_KEY is not set']);
  assert.ok(!/healthy|no errors/.test(c.reasons.join(' ')), c.reasons.join('; '));
  // Without a reason given, it still says why.
  const bare = classify([], NO_APP, OPTS);
  assert.equal(bare.verdict, 'not_tested');
  assert.match(bare.reasons[0], /^not tested: /);
});

test('no test request, the app reports its error ratio: real traffic is evidence', () => {
  assert.equal(classify([], { ...NO_APP, errorRatio: 0 }, OPTS, 'no key').verdict, 'healthy');
  const p3 = classify([], { ...NO_APP, errorRatio: 0.02 }, OPTS, 'no key');
  assert.equal(p3.severity, 'P3');
  assert.equal(p3.verdict, 'incident');
  const p2 = classify([], { ...NO_APP, errorRatio: 0.2 }, OPTS, 'no key');
  assert.equal(p2.severity, 'P2');
});

test('no test request, but the app is slow or its quality low: the severity that evidence holds', () => {
  assert.equal(classify([], { ...NO_APP, p99Ms: 20_000 }, OPTS, 'no key').severity, 'P2');
  assert.equal(classify([], { ...NO_APP, quality: 0.5 }, OPTS, 'no key').severity, 'P4');
  assert.equal(classify([], NO_APP, { ...OPTS, degradedQualityReported: true }, 'no key').severity, 'P4');
});

test('every test request answers: healthy', () => {
  const c = classify(probes(200, 200, 200, 200, 200), NO_APP, OPTS);
  assert.equal(c.severity, null);
  assert.equal(c.verdict, 'healthy');
});

test('1 of the default 5 test requests failing, no app metrics: P3, with the count and the interval', () => {
  assert.equal(LLM_PROVIDER_DEFAULTS.probeRequests, 5);
  assert.equal(LLM_PROVIDER_DEFAULTS.intermittentErrorRate, 0.05);
  const c = classify(probes(200, 200, 200, 200, 500), NO_APP, OPTS);
  assert.equal(c.severity, 'P3');
  assert.equal(c.verdict, 'incident');
  assert.match(c.reasons.join('; '), /1 of 5 test requests failed/);
  assert.match(c.reasons.join('; '), /95% CI 3\.6%-62\.4%/);
});

test('2 of 5 failing: the interval is above 5 % throughout, P2', () => {
  const c = classify(probes(200, 500, 200, 200, 500), NO_APP, OPTS);
  assert.equal(c.severity, 'P2');
  assert.match(c.reasons.join('; '), /2 of 5 test requests failed .*95% CI 11\.8%/);
});

test("the app's error ratio, when known, decides P2 against P3", () => {
  // 2 of 5 test requests failing alone would be P2; real traffic says 1 %.
  const p3 = classify(probes(200, 500, 200, 200, 500), { ...NO_APP, errorRatio: 0.01 }, OPTS);
  assert.equal(p3.severity, 'P3');
  assert.match(p3.reasons.join('; '), /1\.0%/);
  // 1 of 5 alone would be P3; real traffic says 8 %.
  const p2 = classify(probes(200, 200, 200, 200, 500), { ...NO_APP, errorRatio: 0.08 }, OPTS);
  assert.equal(p2.severity, 'P2');
  // Test requests failing while the app sees none: intermittent, not healthy.
  const quiet = classify(probes(200, 200, 200, 200, 500), { ...NO_APP, errorRatio: 0 }, OPTS);
  assert.equal(quiet.severity, 'P3');
});

test('500/529 for all requests: P1; 401/403 for all: P1; 429: P2; a timeout: P2', () => {
  assert.equal(classify(probes(500, 500, 529), NO_APP, OPTS).severity, 'P1');
  assert.equal(classify(probes(401, 401, 401), NO_APP, OPTS).severity, 'P1');
  assert.equal(classify(probes(200, 429, 200), NO_APP, OPTS).severity, 'P2');
  const timedOut = [probe(200), probe(null, { outcome: 'timeout', latencyMs: 30_000 }), probe(200)];
  assert.equal(classify(timedOut, NO_APP, OPTS).severity, 'P2');
});

test('every test request refused as malformed (404 not_found_error): not a provider failure, not tested', () => {
  const c = classify(probes(404, 404, 404, 404, 404), NO_APP, OPTS);
  assert.equal(c.severity, null);
  assert.equal(c.verdict, 'not_tested');
  assert.match(c.reasons.join('; '), /refused as misconfigured.*404 not_found_error: model: claude-haiku-4-20250514/);
  // With the app's error ratio known, the app decides.
  assert.equal(classify(probes(404, 404, 404), { ...NO_APP, errorRatio: 0.5 }, OPTS).severity, 'P2');
});

test('Wilson interval at 95 %', () => {
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const w = (k: number, n: number) => {
    const { low, high } = wilsonInterval(k, n);
    return [round(low), round(high)];
  };
  assert.deepEqual(w(1, 5), [0.036, 0.624]);
  assert.deepEqual(w(2, 5), [0.118, 0.769]);
  assert.deepEqual(w(0, 5), [0, 0.434]);
  assert.deepEqual(w(5, 5), [0.566, 1]);
  assert.deepEqual(w(0, 0), [0, 1]);
});

test('decision tree: 400/404 is its own branch, misconfigured, with its step and no provider mitigation', () => {
  for (const status of [400, 404]) {
    const d = diagnoseProvider(probes(status, status, status), null);
    assert.equal(d.branch, 'misconfigured');
    assert.equal(d.primary, 'misconfigured');
    assert.match(d.causes[0].evidence[0], /3 of 3 test requests: refused as misconfigured/);
  }
  assert.equal(BRANCH_STEP.misconfigured, 'misconfigured-request');
  assert.deepEqual(BRANCH_MITIGATIONS.misconfigured, []);
  const step = LLM_PROVIDER_STEPS.find((s) => s.id === 'misconfigured-request');
  assert.equal(step?.section, 'Decision Tree');
  assert.equal(step?.kind, 'manual');
  // A refused key still comes first: nothing else can be judged.
  assert.equal(diagnoseProvider(probes(401, 404, 404), null).branch, 'auth_failure');
  // A 404 among 500s: the misconfiguration is named before the server errors.
  assert.equal(diagnoseProvider(probes(500, 500, 404), null).branch, 'misconfigured');
});

test('decision tree: no test request is not_tested, not healthy', () => {
  const d = diagnoseProvider([], null);
  assert.equal(d.branch, 'not_tested');
  assert.equal(d.primary, 'not_tested');
  assert.deepEqual(BRANCH_MITIGATIONS.not_tested, []);
  // Test requests all answering is healthy; the app's slowness is the timeout branch either way.
  assert.equal(diagnoseProvider(probes(200, 200), null).branch, 'healthy');
  assert.equal(diagnoseProvider([], null, { p99Ms: 20_000, thresholdMs: 10_000 }).branch, 'timeout');
});

test("the default probe and fallback models are in the SDK's current model list", () => {
  // The SDK as installed: its Messages API's `Model` union lists the ids it knows.
  const sdk = path.dirname(require.resolve('@anthropic-ai/sdk'));
  const dts = readFileSync(path.join(sdk, 'resources', 'messages', 'messages.d.ts'), 'utf8');
  const union = /export type Model = ([^;]+);/.exec(dts)?.[1] ?? '';
  const models = [...union.matchAll(/'([^']+)'/g)].map((m) => m[1]);
  assert.ok(models.length > 5, `the SDK's Model union: ${union.slice(0, 200)}`);
  for (const param of ['probeModel', 'fallbackModel'] as const) {
    const id = LLM_PROVIDER_DEFAULTS[param];
    assert.ok(models.includes(id), `${param} ${id} is not in the SDK's model list: ${models.join(', ')}`);
    assert.match(id, /haiku/, `${param}: a Haiku model, the document's small one`);
  }
});
