// The gateway over real HTTP, against the local Temporal server and Postgres: the webhook's
// contract, bad input, change events, decisions with responder tokens.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import type http from 'node:http';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { IncidentStore } from '../../activities/db/incident-store';
import { PROJECT_ROOT } from '../../dev/temporal-binaries';
import { createGateway } from '../../client/gateway/server';
import { Incidents } from '../../client/incidents';
import { stateQuery } from '../../workflows/definitions';
import { createHarness, eventually, type Harness } from '../support/harness';
import { secret } from '../support/secrets';

const TOKEN = secret('WEBHOOK_TOKEN');
const CHANGES = secret('CHANGES_TOKEN');
const ALICE = secret('responder token (alice)');
const BOB = secret('responder token (bob)');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function payload(groupKey: string, alerts: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'web\\.hook',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts,
    ...extra,
  };
}

function alert(labels: Record<string, string>, status = 'firing', fingerprint?: string) {
  return {
    status,
    labels: { service: 'api', ...labels },
    annotations: { summary: 'errors' },
    startsAt: '2026-11-23T03:00:00.123456789+01:00',
    endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2026-11-23T03:20:00Z',
    generatorURL: '/graph?g0.expr=x',
    ...(fingerprint ? { fingerprint } : {}),
  };
}

describe('gateway', () => {
  let h: Harness;
  let server: http.Server;
  let base = '';

  before(async () => {
    h = await createHarness('gateway', {
      routes: [
        { match: ['alertname=~"(?i).*(ErrorRate|5xx).*"'], runbook: 'api-error-budget' },
        { match: ['alertname=~"(?i).*(Cost|Spend|Budget)Spike.*|InferenceCost.*"'], runbook: 'cost-spike' },
      ],
      responders: [
        { name: 'alice', tokenSha256: sha(ALICE), roles: ['oncall'] },
        { name: 'bob', tokenSha256: sha(BOB), roles: ['viewer'] },
      ],
      gateway: { bodyLimitBytes: 64 * 1024, hosts: ['runbooks.internal'] },
      runbooks: { 'api-error-budget': { params: { approvalDeadline: '1h' } } },
    });
    await h.startWorker();
    server = createGateway({
      client: h.client,
      config: h.config,
      store: h.store,
      webhookToken: TOKEN,
      changesToken: CHANGES,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      log: () => undefined,
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await h?.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  test('a firing alert starts the runbook; the same notification again joins it; resolved is signalled to it', async () => {
    const env = `gw-${randomUUID().slice(0, 6)}`;
    const groupKey = `{}:{alertname="ApiErrorRate",environment="${env}"}`;
    const first = await post(
      '/alertmanager',
      payload(groupKey, [alert({ alertname: 'ApiErrorRate', environment: env }, 'firing', 'aaaabbbbccccdddd')]),
    );
    assert.equal(first.status, 200);
    const body = (await first.json()) as { alerts: { workflowId: string; outcome: string; runbook: string }[] };
    assert.equal(body.alerts[0].outcome, 'started');
    assert.equal(body.alerts[0].runbook, 'api-error-budget');
    assert.match(body.alerts[0].workflowId, /^incident\/api-error-budget\/[0-9a-f]{16}$/);

    // Alertmanager re-sends the group every group_interval; old ones send no fingerprint.
    const again = await post(
      '/alertmanager',
      payload(groupKey, [alert({ alertname: 'ApiErrorRate', environment: env })]),
    );
    const againBody = (await again.json()) as { alerts: { workflowId: string; outcome: string }[] };
    assert.equal(againBody.alerts[0].outcome, 'joined');
    assert.equal(againBody.alerts[0].workflowId, body.alerts[0].workflowId);

    const resolved = await post(
      '/alertmanager',
      payload(groupKey, [alert({ alertname: 'ApiErrorRate', environment: env }, 'resolved', 'aaaabbbbccccdddd')], {
        status: 'resolved',
      }),
    );
    assert.equal(((await resolved.json()) as { alerts: { outcome: string }[] }).alerts[0].outcome, 'joined');

    const handle = h.client.workflow.getHandle(body.alerts[0].workflowId);
    const s = await eventually('the resolved alert in the incident', async () => {
      const st = await handle.query(stateQuery);
      return st.alerts.some((a) => a.status === 'resolved') ? st : undefined;
    });
    assert.equal(s.service, 'api');
    assert.equal(s.environment, env);
    const receipts = await h.pool.query('SELECT outcome FROM alert_receipts WHERE workflow_id = $1 ORDER BY id', [
      handle.workflowId,
    ]);
    assert.deepEqual(
      receipts.rows.map((r) => r.outcome),
      ['started', 'joined', 'joined'],
    );
    await handle.cancel();
  });

  test('Alertmanager re-sending an unchanged alert is not signalled again; a change is; after the incident, it starts a new one', async () => {
    const env = `gw-${randomUUID().slice(0, 6)}`;
    const groupKey = `{}:{alertname="ApiErrorRate",environment="${env}"}`;
    const send = async (labels: Record<string, string>, status = 'firing', summary = 'errors') => {
      const a = {
        ...alert({ alertname: 'ApiErrorRate', environment: env, ...labels }, status),
        annotations: { summary },
      };
      const res = await post('/alertmanager', payload(groupKey, [a]));
      assert.equal(res.status, 200);
      return ((await res.json()) as { alerts: { workflowId: string; outcome: string; reason?: string }[] }).alerts[0];
    };
    const first = await send({});
    assert.equal(first.outcome, 'started');
    const signals = async () =>
      (await h.client.workflow.getHandle(first.workflowId).fetchHistory()).events!.filter(
        (e) => e.workflowExecutionSignaledEventAttributes,
      ).length;
    // Every group_interval the same notification again: joined, and nothing added to the history.
    for (let i = 0; i < 3; i++) {
      const again = await send({});
      assert.equal(again.outcome, 'joined');
      assert.match(again.reason ?? '', /unchanged.*not signalled again/);
    }
    // What changed is news: a new summary, then the alert resolving.
    assert.equal((await send({}, 'firing', 'errors rising')).outcome, 'joined');
    assert.equal((await send({}, 'resolved', 'errors rising')).outcome, 'joined');
    // A signal that comes while the workflow is busy reaches its history once that task is done.
    await eventually('the two signals in the history', async () => ((await signals()) >= 2 ? true : undefined));
    assert.equal(await signals(), 2, 'the unchanged re-sends were not signalled');
    // The incident over, the same alert firing again opens a new one.
    await h.client.workflow.getHandle(first.workflowId).terminate('test: incident over');
    const after = await send({}, 'firing', 'errors rising');
    assert.equal(after.outcome, 'started');
    await h.client.workflow.getHandle(after.workflowId).terminate('test done');
  });

  test('a storm of 1000 alerts in one group: one incident told in one signal; 10,000 in one body: refused at once', async () => {
    // The default body limit (2 MiB) and alert cap (1000), as a real gateway has them.
    const gw = createGateway({
      client: h.client,
      config: { ...h.config, gateway: { ...h.config.gateway, bodyLimitBytes: 2 * 1024 * 1024 } },
      store: h.store,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      log: () => undefined,
    });
    await new Promise<void>((r) => gw.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(gw.address() as AddressInfo).port}/alertmanager`;
    const env = `gw-${randomUUID().slice(0, 6)}`;
    const groupKey = `{}:{alertname="ApiErrorRate",environment="${env}"}`;
    const storm = (n: number) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          payload(
            groupKey,
            Array.from({ length: n }, (_, i) =>
              alert({ alertname: 'ApiErrorRate', environment: env, instance: `pod-${i}` }),
            ),
          ),
        ),
      });
    try {
      const res = await storm(1000);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { alerts: { workflowId: string; outcome: string }[] };
      assert.equal(new Set(body.alerts.map((a) => a.workflowId)).size, 1, 'one incident for the group');
      assert.equal(body.alerts[0].outcome, 'started');
      assert.ok(body.alerts.slice(1).every((a) => a.outcome === 'joined'));
      const handle = h.client.workflow.getHandle(body.alerts[0].workflowId);
      await eventually('every alert in the incident', async () => {
        const st = await handle.query(stateQuery);
        return st.alerts.length === 1000 ? st : undefined;
      });
      const history = (await handle.fetchHistory()).events!;
      assert.equal(history.filter((e) => e.workflowExecutionSignaledEventAttributes).length, 1);
      assert.ok(history.length < 100, `${history.length} events`);
      const receipts = await h.pool.query('SELECT count(*)::int AS n FROM alert_receipts WHERE workflow_id = $1', [
        handle.workflowId,
      ]);
      assert.equal(receipts.rows[0].n, 1000);
      // Past the cap, Alertmanager must truncate (max_alerts): a clear 4xx, nothing half-done.
      const tooMany = await storm(10_000);
      assert.ok(tooMany.status === 413 || tooMany.status === 400, String(tooMany.status));
      const after = await h.pool.query('SELECT count(*)::int AS n FROM alert_receipts WHERE workflow_id = $1', [
        handle.workflowId,
      ]);
      assert.equal(after.rows[0].n, 1000, 'nothing of the refused body recorded');
      await handle.terminate('test done');
    } finally {
      gw.closeAllConnections();
      await new Promise((r) => gw.close(r));
    }
  });

  test('an inference cost alert (cost > 20% above baseline) starts the cost-spike runbook', async () => {
    const env = `cost-${randomUUID().slice(0, 6)}`;
    const res = await post(
      '/alertmanager',
      payload(`{}:{alertname="InferenceCostSpike",environment="${env}"}`, [
        alert({ alertname: 'InferenceCostSpike', environment: env, severity: 'critical' }),
      ]),
    );
    assert.equal(res.status, 200);
    const body = (await res.json()) as { alerts: { workflowId: string; outcome: string; runbook: string }[] };
    assert.equal(body.alerts[0].outcome, 'started');
    assert.equal(body.alerts[0].runbook, 'cost-spike');
    const handle = h.client.workflow.getHandle(body.alerts[0].workflowId);
    const s = await eventually('the spike confirmation to run', async () => {
      const st = await handle.query(stateQuery);
      return st.steps.find((x) => x.id === 'confirm-spike')?.status !== 'pending' ? st : undefined;
    });
    assert.equal(s.runbook, 'cost-spike');
    assert.equal(s.severity, 'P1');
    assert.equal(s.steps[0].budget, '5m');
    await handle.terminate('test done');
  });

  test('alerts that match no route, name an unknown runbook, or resolve nothing open: 200, ignored with the reason, recorded', async () => {
    const key = randomUUID();
    const res = await post(
      '/alertmanager',
      payload(`{}:{k="${key}"}`, [
        alert({ alertname: 'DiskFull', k: key }),
        alert({ alertname: 'Whatever', runbook: 'no-such-runbook', k: key }),
        alert({ alertname: 'ApiErrorRate', k: key }, 'resolved'),
      ]),
    );
    assert.equal(res.status, 200);
    const { alerts } = (await res.json()) as { alerts: { outcome: string; reason: string }[] };
    assert.deepEqual(
      alerts.map((a) => a.outcome),
      ['ignored', 'ignored', 'ignored'],
    );
    assert.match(alerts[0].reason, /no route matches/);
    assert.match(alerts[1].reason, /unknown runbook "no-such-runbook"/);
    assert.match(alerts[2].reason, /no open incident/);
    const { rows } = await h.pool.query(
      `SELECT alertname, reason FROM alert_receipts WHERE labels->>'k' = $1 ORDER BY id`,
      [key],
    );
    assert.equal(rows.length, 3, 'every ignored alert is still recorded');
  });

  test('bad webhooks: wrong token 401, not JSON 400, missing fields 400 naming them, oversized 413', async () => {
    const ok = payload('{}:{}', [alert({ alertname: 'DiskFull' })]);
    assert.equal((await post('/alertmanager', ok, {})).status, 401);
    assert.equal((await post('/alertmanager', ok, { authorization: 'Bearer nope' })).status, 401);
    const basic = `Basic ${Buffer.from(`alertmanager:${TOKEN}`).toString('base64')}`;
    assert.equal(
      (await post('/alertmanager', ok, { authorization: basic })).status,
      200,
      'basic auth with the token as password',
    );

    // A form post from a web page needs no preflight: a JSON endpoint takes JSON only.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', '']) {
      const res = await post('/alertmanager', ok, { authorization: `Bearer ${TOKEN}`, 'content-type': type });
      assert.equal(res.status, 415, type);
      assert.match(((await res.json()) as { error: string }).error, /application\/json/);
      assert.equal(
        (await post('/incidents/x/decisions', { step: 's', decision: 'approve', by: 'a' }, { 'content-type': type }))
          .status,
        415,
      );
    }

    // What the store or Temporal could never take is the sender's error, named, not a retry forever.
    for (const [bad, field] of [
      [alert({ alertname: 'ApiErrorRate', service: 'a\u0000b' }), /alerts\.0\.labels\.service: .*NUL/],
      [alert({ alertname: 'ApiErrorRate', service: 'a\ud800b' }), /alerts\.0\.labels\.service: .*unpaired surrogate/],
      [alert({ alertname: 'ApiErrorRate', service: 'x'.repeat(2000) }), /alerts\.0\.labels\.service: .*at most 1024/],
      [{ ...alert({ alertname: 'ApiErrorRate' }), startsAt: '0000-01-01T00:00:00Z' }, /alerts\.0\.startsAt: .*year/],
    ] as const) {
      const res = await post('/alertmanager', payload('{}:{bad="1"}', [bad]));
      assert.equal(res.status, 400, JSON.stringify(bad).slice(0, 80));
      assert.match(((await res.json()) as { error: string }).error, field);
    }

    const notJson = await post('/alertmanager', '{"version": "4", ');
    assert.equal(notJson.status, 400);
    assert.match(((await notJson.json()) as { error: string }).error, /not JSON/);

    const broken = await post('/alertmanager', {
      ...ok,
      version: '3',
      alerts: [{ status: 'firing', labels: {}, startsAt: 'yesterday' }],
    });
    assert.equal(broken.status, 400);
    const fields = ((await broken.json()) as { fields: { path: string }[] }).fields.map((f) => f.path);
    assert.ok(fields.includes('version'));
    assert.ok(fields.includes('alerts.0.labels'));
    assert.ok(fields.includes('alerts.0.startsAt'));

    const big = await post(
      '/alertmanager',
      payload('{}:{}', [alert({ alertname: 'DiskFull', pad: 'x'.repeat(70 * 1024) })]),
    );
    assert.equal(big.status, 413);
  });

  test('Temporal unreachable or refusing the start: 503 so Alertmanager retries; store down for an ignored alert: 503', async () => {
    const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1000 });
    const deadClient = new Client({ connection });
    const deadPool = new Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
    const gw = createGateway({
      client: deadClient,
      config: h.config,
      store: h.store,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      log: () => undefined,
    });
    // Temporal answers, but refuses the start (here: a namespace it does not have).
    const gwRefused = createGateway({
      client: new Client({ connection: h.client.connection, namespace: 'no-such-namespace' }),
      config: h.config,
      store: h.store,
      taskQueue: h.taskQueue,
      log: () => undefined,
    });
    const gwDeadStore = createGateway({
      client: h.client,
      config: h.config,
      store: IncidentStore.create(deadPool),
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      log: () => undefined,
    });
    try {
      for (const [server, body, expected] of [
        [
          gw,
          payload('{}:{x="1"}', [alert({ alertname: 'ApiErrorRate', environment: 'dead' })]),
          /Temporal unreachable/,
        ],
        [gwDeadStore, payload('{}:{x="2"}', [alert({ alertname: 'DiskFull' })]), /incident store unavailable/],
        [
          gwRefused,
          payload('{}:{x="3"}', [alert({ alertname: 'ApiErrorRate', environment: 'refused' })]),
          /could not start api-error-budget for ApiErrorRate: .*namespace.*Alertmanager will retry/i,
        ],
      ] as const) {
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alertmanager`;
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 503);
        assert.match(((await res.json()) as { error: string }).error, expected);
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    } finally {
      await deadPool.end();
    }
  });

  test('store down for a routed alert: 503, not a 200 with no receipt; the retry joins the incident and stores it', async () => {
    const deadPool = new Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
    const gwDeadStore = createGateway({
      client: h.client,
      config: h.config,
      store: IncidentStore.create(deadPool),
      webhookToken: TOKEN,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      log: () => undefined,
    });
    const env = `gw-${randomUUID().slice(0, 6)}`;
    const body = payload(`{}:{x="${env}"}`, [alert({ alertname: 'ApiErrorRate', environment: env })]);
    try {
      await new Promise<void>((r) => gwDeadStore.listen(0, '127.0.0.1', r));
      const res = await fetch(`http://127.0.0.1:${(gwDeadStore.address() as AddressInfo).port}/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 503);
      assert.match(
        ((await res.json()) as { error: string }).error,
        /incident store unavailable.*Alertmanager will retry/,
      );
    } finally {
      gwDeadStore.closeAllConnections();
      await new Promise((r) => gwDeadStore.close(r));
      await deadPool.end();
    }
    // Alertmanager retries the same notification once the store is back.
    const retry = await post('/alertmanager', body);
    assert.equal(retry.status, 200);
    const [result] = ((await retry.json()) as { alerts: { workflowId: string; outcome: string }[] }).alerts;
    assert.equal(result.outcome, 'joined');
    const receipts = await h.pool.query('SELECT outcome FROM alert_receipts WHERE workflow_id = $1', [
      result.workflowId,
    ]);
    assert.deepEqual(
      receipts.rows.map((r) => r.outcome),
      ['joined'],
    );
    await h.client.workflow.getHandle(result.workflowId).terminate('test done');
  });

  test("a Host header that is not one of the gateway's names is refused (421), whatever the path", async () => {
    const hostRequest = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${base}/healthz`, { headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    const port = new URL(base).port;
    // DNS rebinding: a page on attacker.example whose name now resolves to this machine.
    assert.equal(await hostRequest(`attacker.example:${port}`), 421);
    assert.equal(await hostRequest('attacker.example'), 421);
    assert.equal(await hostRequest(`127.0.0.1:${port}`), 200);
    assert.equal(await hostRequest(`localhost:${port}`), 200);
    assert.equal(await hostRequest(`[::1]:${port}`), 200);
    // Names configured in gateway.hosts are accepted.
    assert.equal(await hostRequest(`runbooks.internal:${port}`), 200);
  });

  test('change events are stored and validated, with their own token', async () => {
    const deploy = { service: 'api', environment: 'prod', kind: 'deploy', version: 'v9', actor: 'ci' };
    // Nobody plants a deploy without a token; its own, the webhook's or a responder's will do.
    for (const authorization of ['', 'Bearer nope'])
      assert.equal((await post('/events/changes', deploy, { authorization })).status, 401, authorization);
    for (const token of [TOKEN, ALICE])
      assert.equal((await post('/events/changes', deploy, { authorization: `Bearer ${token}` })).status, 201);
    const res = await post('/events/changes', deploy, { authorization: `Bearer ${CHANGES}` });
    assert.equal(res.status, 201);
    const { id } = (await res.json()) as { id: number };
    const { rows } = await h.pool.query('SELECT kind, version FROM change_events WHERE id = $1', [id]);
    assert.deepEqual(rows[0], { kind: 'deploy', version: 'v9' });
    const bad = await post(
      '/events/changes',
      { service: 'api', environment: 'prod', kind: 'reboot' },
      { authorization: `Bearer ${CHANGES}` },
    );
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /kind/);
  });

  test('decisions over HTTP: 401 without a token, 403 without the role, 409 not pending, 404 unknown, 200 acknowledged', async () => {
    const env = `gwd-${randomUUID().slice(0, 6)}`;
    const res = await post(
      '/alertmanager',
      payload(`{}:{e="${env}"}`, [alert({ alertname: 'ApiErrorRate', environment: env })]),
    );
    const workflowId = ((await res.json()) as { alerts: { workflowId: string }[] }).alerts[0].workflowId;
    const handle = h.client.workflow.getHandle(workflowId);
    await eventually('the page waiting for an acknowledgement', async () =>
      (await handle.query(stateQuery)).pendingApprovals.some((p) => p.step === 'acknowledge') ? true : undefined,
    );

    const url = `/incidents/${encodeURIComponent(workflowId)}/decisions`;
    const approve = { step: 'acknowledge', decision: 'acknowledge', by: 'someone' };
    assert.equal((await post(url, approve, {})).status, 401);
    assert.equal((await post(url, approve, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await post(url, approve, { authorization: `Bearer ${BOB}` })).status, 403);
    assert.equal(
      (await post(url, { ...approve, step: 'degraded-mode' }, { authorization: `Bearer ${ALICE}` })).status,
      409,
    );
    assert.equal(
      (await post(url, { ...approve, decision: 'maybe' }, { authorization: `Bearer ${ALICE}` })).status,
      400,
    );
    assert.equal(
      (
        await post(`/incidents/${encodeURIComponent('incident/api-error-budget/none')}/decisions`, approve, {
          authorization: `Bearer ${ALICE}`,
        })
      ).status,
      404,
    );

    const ok = await post(url, { ...approve, comment: 'go' }, { authorization: `Bearer ${ALICE}` });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { by: string }).by, 'alice', 'the token owner decides, whatever `by` says');

    // Reads need a responder's token once responders are configured.
    assert.equal((await fetch(`${base}/incidents/${encodeURIComponent(workflowId)}`)).status, 401);
    assert.equal((await fetch(`${base}/incidents?open=true`)).status, 401);
    const get = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${BOB}` } });
    const state = await get(`/incidents/${encodeURIComponent(workflowId)}`);
    assert.equal(state.status, 200);
    assert.equal(((await state.json()) as { runbook: string }).runbook, 'api-error-budget');
    assert.equal((await get(`/incidents/${encodeURIComponent('incident/x/none')}`)).status, 404);
    // A malformed %-escape in the id is the client's error, named, never a 500.
    const malformed = await get('/incidents/incident%2Fx%E0%A4%A');
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { error: string }).error, /malformed %-escape/);
    assert.equal((await post('/incidents/%zz/decisions', { step: 'x', decision: 'approve', by: 'a' })).status, 400);
    const list = (await (await get('/incidents?open=true')).json()) as { workflowId: string }[];
    assert.ok(Array.isArray(list));

    const refused = await h.pool.query(
      `SELECT decided_by, outcome, reason FROM decisions WHERE workflow_id = $1 AND outcome = 'refused'`,
      [workflowId],
    );
    assert.ok(refused.rows.length >= 3, 'refused decisions are recorded');
    assert.ok(refused.rows.some((r) => r.decided_by === 'bob' && /lacks the role/.test(r.reason)));
    await handle.cancel();
  });

  test('a decision no worker answers in time: 503 saying so', async () => {
    // An incident on a queue no worker polls: the update cannot be delivered.
    const idle = Incidents.create(h.client, h.config, `${h.taskQueue}-idle`);
    const started = await idle.start({
      runbook: 'api-error-budget',
      service: 'api',
      environment: 'idle',
      source: 'manual',
      startedBy: 'test',
    });
    const gw = createGateway({
      client: h.client,
      config: h.config,
      store: h.store,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      decisionTimeoutMs: 1500,
      log: () => undefined,
    });
    await new Promise<void>((r) => gw.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(gw.address() as AddressInfo).port}/incidents/${encodeURIComponent(started.workflowId)}/decisions`;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ALICE}` },
        body: JSON.stringify({ step: 'rollback-deploy', decision: 'approve', by: 'alice' }),
      });
      assert.equal(res.status, 503);
      assert.match(((await res.json()) as { error: string }).error, /no worker answered/);
    } finally {
      gw.closeAllConnections();
      await new Promise((r) => gw.close(r));
      await h.client.workflow.getHandle(started.workflowId).terminate('test done');
    }
  });

  test('health and readiness: /readyz names what is down', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { checks: Record<string, string> }).checks, {
      temporal: 'ok',
      postgres: 'ok',
      worker: 'ok',
    });

    // The store unreachable and no worker polling the task queue: 503 naming both.
    const deadPool = new Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
    const gw = createGateway({
      client: h.client,
      config: h.config,
      store: IncidentStore.create(deadPool),
      taskQueue: `nobody-polls-${randomUUID().slice(0, 6)}`,
      log: () => undefined,
    });
    try {
      await new Promise<void>((r) => gw.listen(0, '127.0.0.1', r));
      const res = await fetch(`http://127.0.0.1:${(gw.address() as AddressInfo).port}/readyz`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { ready: boolean; down: string[]; checks: Record<string, string> };
      assert.equal(body.ready, false);
      assert.deepEqual(body.down, ['postgres', 'worker']);
      assert.equal(body.checks.temporal, 'ok');
      assert.match(body.checks.postgres, /ECONNREFUSED|connect/);
      assert.match(body.checks.worker, /no worker is polling task queue "nobody-polls-/);
    } finally {
      gw.closeAllConnections();
      await new Promise((r) => gw.close(r));
      await deadPool.end();
    }
  });
});

test('closed by default: the gateway will not listen beyond loopback without a webhook token and a responder', async () => {
  const start = (env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'client/gateway/main.ts')], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, GATEWAY_HOST: '0.0.0.0', GATEWAY_PORT: '0', ...env },
      });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
  const open = await start({});
  assert.equal(open.code, 1);
  assert.match(open.stderr, /refusing to listen on 0\.0\.0\.0 without WEBHOOK_TOKEN and a responder in the config/);
  const tokenOnly = await start({ WEBHOOK_TOKEN: 'x' });
  assert.match(tokenOnly.stderr, /refusing to listen on 0\.0\.0\.0 without a responder in the config/);
});
