// The provider probe through the real SDK against a local Messages API: what each kind of
// answer (or none) looks like in the report, and that the key never shows in it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import type { Deps } from '../../activities/deps';
import { createProviderActivities, type ProbeReport } from '../../activities/provider';
import { AnthropicStandIn } from '../support/anthropic-standin';
import { secret } from '../support/secrets';

const key = secret('ANTHROPIC_API_KEY', 'sk-ant-api03-');
const model = 'claude-haiku-4-5';
const standin = new AnthropicStandIn(key);
const reports: ProbeReport[] = [];

// The probe reads only the environment; the rest of Deps stays unbuilt.
const probe = async (requests: number, env: NodeJS.ProcessEnv, timeoutMs = 5_000) => {
  const report = await createProviderActivities({ env } as Deps).probeProvider({ requests, model, timeoutMs });
  reports.push(report);
  return report;
};
const probeStandin = (requests = 1, timeoutMs?: number) =>
  probe(requests, { ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: standin.url }, timeoutMs);

before(() => standin.listen());
after(() => standin.close());
beforeEach(() => {
  standin.mode = 'ok';
  standin.errorRate = 0;
});

test('ok: 200 with request id and rate-limit headers, one request per probe', async () => {
  const before = standin.requests.length;
  const report = await probeStandin(3);
  assert.equal(report.configured, true);
  assert.equal(report.model, model);
  assert.equal(report.results.length, 3);
  assert.equal(standin.requests.length - before, 3);
  for (const r of report.results) {
    assert.equal(r.status, 200);
    assert.equal(r.outcome, 'ok');
    assert.equal(r.errorType, null);
    assert.equal(r.message, null);
    assert.match(r.requestId ?? '', /^req_\w+$/);
    assert.equal(r.rateLimit['anthropic-ratelimit-requests-remaining'], '49');
    assert.ok(r.latencyMs >= 0);
    assert.ok(!Number.isNaN(Date.parse(r.at)));
  }
  const sent = standin.requests.at(-1)!;
  // SDK 1.x sends the key as a bearer token; x-api-key is the older form.
  assert.ok(sent.headers.authorization === `Bearer ${key}` || sent.headers['x-api-key'] === key);
  assert.deepEqual(JSON.parse(sent.body), { model, max_tokens: 8, messages: [{ role: 'user', content: '1' }] });
});

test('ok with delay: latency covers the wait', async () => {
  standin.delayMs = 200;
  try {
    const [r] = (await probeStandin()).results;
    assert.equal(r.outcome, 'ok');
    assert.ok(r.latencyMs >= 190, `latency ${r.latencyMs}`);
  } finally {
    standin.delayMs = 0;
  }
});

const errorModes = [
  [400, 'invalid_request_error'],
  [401, 'authentication_error'],
  [403, 'permission_error'],
  [404, 'not_found_error'],
  [429, 'rate_limit_error'],
  [500, 'api_error'],
  [529, 'overloaded_error'],
] as const;

for (const [status, errorType] of errorModes) {
  test(`${status}: ${errorType}, not retried`, async () => {
    standin.mode = status;
    const before = standin.requests.length;
    const [r] = (await probeStandin()).results;
    assert.equal(standin.requests.length - before, 1);
    assert.equal(r.status, status);
    assert.equal(r.outcome, 'error');
    assert.equal(r.errorType, errorType);
    assert.ok(r.message && !r.message.startsWith(`${status} `), `the API's message, not the SDK's: ${r.message}`);
    assert.match(r.requestId ?? '', /^req_\w+$/);
    assert.ok(r.rateLimit['anthropic-ratelimit-requests-limit']);
  });
}

test('429: retry-after and the spent request budget, as sent', async () => {
  standin.mode = 429;
  const [r] = (await probeStandin()).results;
  assert.equal(r.rateLimit['retry-after'], '30');
  assert.equal(r.rateLimit['anthropic-ratelimit-requests-remaining'], '0');
  assert.match(r.rateLimit['anthropic-ratelimit-requests-reset'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(
    Object.keys(r.rateLimit).filter((h) => !h.startsWith('anthropic-ratelimit-')),
    ['retry-after'],
  );
});

test('a model the API does not serve: 404 not_found_error naming the model, as the API answers a retired id', async () => {
  standin.models = ['claude-haiku-4-5'];
  try {
    const env: NodeJS.ProcessEnv = { ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: standin.url };
    const report = await createProviderActivities({ env } as Deps).probeProvider({
      requests: 1,
      model: 'claude-haiku-4-20250514',
      timeoutMs: 5_000,
    });
    reports.push(report);
    const [r] = report.results;
    assert.equal(r.status, 404);
    assert.equal(r.errorType, 'not_found_error');
    assert.equal(r.message, 'model: claude-haiku-4-20250514');
    assert.equal((await probeStandin()).results[0].status, 200, 'a served model still answers');
  } finally {
    standin.models = null;
  }
});

test('the stand-in takes the key as x-api-key too, as curl sends it', async () => {
  const post = (headers: Record<string, string>) =>
    fetch(`${standin.url}/v1/messages`, {
      method: 'POST',
      headers: { 'anthropic-version': '2023-06-01', 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: 'user', content: '1' }] }),
    });
  const ok = await post({ 'x-api-key': key });
  assert.equal(ok.status, 200);
  assert.match(((await ok.json()) as { id: string }).id, /^msg_/);
  const denied = await post({});
  assert.equal(denied.status, 401);
  assert.match(denied.headers.get('request-id') ?? '', /^req_\w+$/);
  assert.deepEqual(await denied.json(), {
    type: 'error',
    error: { type: 'authentication_error', message: 'invalid x-api-key' },
    request_id: denied.headers.get('request-id'),
  });
});

test('a wrong key: 401 from the key check itself', async () => {
  const report = await probe(1, { ANTHROPIC_API_KEY: 'sk-ant-wrong', ANTHROPIC_BASE_URL: standin.url });
  assert.equal(report.results[0].status, 401);
  assert.equal(report.results[0].errorType, 'authentication_error');
});

test('slow: the client times out first, no status', async () => {
  standin.mode = 'slow';
  const [r] = (await probeStandin(1, 300)).results;
  assert.equal(r.outcome, 'timeout');
  assert.equal(r.status, null);
  assert.equal(r.requestId, null);
  assert.equal(r.errorType, 'APIConnectionTimeoutError');
  assert.deepEqual(r.rateLimit, {});
  assert.ok(r.latencyMs >= 250 && r.latencyMs < 5_000, `latency ${r.latencyMs}`);
});

test('nothing listening: connection failure, no status', async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const report = await probe(1, { ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}` });
  const [r] = report.results;
  assert.equal(r.outcome, 'connection');
  assert.equal(r.status, null);
  assert.equal(r.errorType, 'APIConnectionError');
  assert.match(r.message ?? '', /^Connection error\..*ECONNREFUSED/);
});

test('intermittent errors: errorRate 0.25 over 8 requests gives 2 errors', async () => {
  standin.errorRate = 0.25;
  const { results } = await probeStandin(8);
  assert.deepEqual(
    results.map((r) => r.status),
    [200, 200, 200, 500, 200, 200, 200, 500],
  );
  assert.equal(results.filter((r) => r.outcome === 'error' && r.errorType === 'api_error').length, 2);
});

test('not configured without a key: no request made', async () => {
  const before = standin.requests.length;
  for (const env of [{ ANTHROPIC_BASE_URL: standin.url }, { ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: standin.url }]) {
    assert.deepEqual(await probe(3, env), {
      configured: false,
      reason: 'ANTHROPIC_API_KEY is not set',
      model,
      results: [],
    });
  }
  assert.equal(standin.requests.length, before);
});

test('the key appears in no report', () => {
  assert.ok(reports.length >= 10);
  for (const report of reports) assert.ok(!JSON.stringify(report).includes(key));
});
