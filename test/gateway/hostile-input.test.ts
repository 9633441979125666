// Hostile input through the real gateway over HTTP: every request in the table gets the status the
// README's contract gives it, never a 500, and what was accepted before the batch is still there.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createGateway } from '../../client/gateway/server';
import { stateQuery } from '../../workflows/definitions';
import { createHarness, eventually, type Harness } from '../support/harness';

const TOKEN = 'hostile-webhook-secret';
const CHANGES = 'hostile-changes-secret';
const ALICE = 'hostile-alice-token';
const BOB = 'hostile-bob-token';
const BODY_LIMIT = 96 * 1024; // small, yet room for 1001 minimal alerts (80 KB) to reach the schema
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const RUN = randomUUID().slice(0, 8);
/** Matches no route: accepted as `ignored`, starts nothing. */
const UNROUTED = 'HostileProbe';
const INJECTION = 'x"}[20s])) or vector(0) or sum(rate(http_requests_total{a="';

function alert(labels: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    status: 'firing',
    labels: { alertname: UNROUTED, service: 'api', run: RUN, ...labels },
    annotations: { summary: 'hostile' },
    startsAt: '2026-11-23T03:00:00Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: '/graph?g0.expr=x',
    ...extra,
  };
}

function webhook(alerts: unknown[], extra: Record<string, unknown> = {}) {
  return {
    version: '4',
    groupKey: `{}:{run="${RUN}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'hostile',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts,
    ...extra,
  };
}

interface Case {
  name: string;
  method?: string;
  path: string;
  /** Replaces the defaults (content-type application/json when there is a body). */
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string or Buffer as it is. */
  body?: unknown;
  /** Sent without content-length, in 8 KiB chunks. */
  chunked?: boolean;
  /** Bytes written as they are on a socket of its own (for what node:http will not send). */
  raw?: string | Buffer;
  status: number;
  /** Matched against the response body. */
  match?: RegExp;
  /** Paths the 400's `fields` must name. */
  fields?: string[];
}

interface Answer {
  status: number;
  text: string;
}

describe('hostile input through the gateway', () => {
  let h: Harness;
  let server: http.Server;
  let port = 0;
  /** What was accepted before the hostile batch: it must survive it. */
  let goodWorkflowId = '';
  let goodChangeId = 0;
  const started: string[] = [];

  function send(c: Case): Promise<Answer> {
    if (c.raw !== undefined) return sendRaw(c.raw);
    return new Promise<Answer>((resolve, reject) => {
      const body =
        c.body === undefined
          ? undefined
          : typeof c.body === 'string' || Buffer.isBuffer(c.body)
            ? c.body
            : JSON.stringify(c.body);
      const headers = c.headers ?? (body === undefined ? {} : { 'content-type': 'application/json' });
      let answered = false;
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: c.method ?? (body === undefined ? 'GET' : 'POST'),
          path: c.path,
          headers,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (b: Buffer) => chunks.push(b));
          res.on('end', () => {
            answered = true;
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      // The gateway may answer (413) before it has read the whole body; the rest then fails to send.
      req.on('error', (err) => (answered ? undefined : reject(err)));
      if (body === undefined) req.end();
      else if (!c.chunked) req.end(body);
      else {
        const bytes = Buffer.from(body);
        for (let i = 0; i < bytes.length; i += 8192) req.write(bytes.subarray(i, i + 8192));
        req.end();
      }
    });
  }

  function sendRaw(bytes: string | Buffer): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (b: Buffer) => chunks.push(b));
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
        if (status) resolve({ status: Number(status[1]), text: text.slice(text.indexOf('\r\n\r\n') + 4) });
        else reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      });
      socket.on('error', () => undefined);
      socket.setTimeout(5_000, () => socket.destroy());
      socket.end(bytes);
    });
  }

  before(async () => {
    h = await createHarness('hostile', {
      routes: [{ match: ['alertname=~"(?i).*(ErrorRate|5xx).*"'], runbook: 'api-error-budget' }],
      responders: [
        { name: 'alice', tokenSha256: sha(ALICE), roles: ['oncall'] },
        { name: 'bob', tokenSha256: sha(BOB), roles: ['viewer'] },
      ],
      gateway: { bodyLimitBytes: BODY_LIMIT },
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
    port = (server.address() as AddressInfo).port;

    // Accepted before the batch: an incident and a change event.
    const good = await send({
      name: 'good alert',
      path: '/alertmanager',
      headers: { 'content-type': 'application/json', ...bearer(TOKEN) },
      body: webhook([alert({ alertname: 'ApiErrorRate', environment: `good-${RUN}` })], {
        groupKey: `{}:{good="${RUN}"}`,
      }),
      status: 200,
    });
    assert.equal(good.status, 200, good.text);
    const [first] = (JSON.parse(good.text) as { alerts: { workflowId: string; outcome: string }[] }).alerts;
    assert.equal(first.outcome, 'started');
    goodWorkflowId = first.workflowId;
    started.push(goodWorkflowId);
    const change = await send({
      name: 'good change',
      path: '/events/changes',
      headers: { 'content-type': 'application/json', ...bearer(CHANGES) },
      body: { service: 'api', environment: `good-${RUN}`, kind: 'deploy', version: 'v1' },
      status: 201,
    });
    assert.equal(change.status, 201, change.text);
    goodChangeId = (JSON.parse(change.text) as { id: number }).id;
    // The page waits for an acknowledgement: a decision with the wrong role is then a 403, not a 409.
    const handle = h.client.workflow.getHandle(goodWorkflowId);
    await eventually('the page waiting for an acknowledgement', async () =>
      (await handle.query(stateQuery)).pendingApprovals.some((p) => p.step === 'acknowledge') ? true : undefined,
    );
  });

  after(async () => {
    for (const id of started)
      await h?.client.workflow
        .getHandle(id)
        .terminate('hostile-input test done')
        .catch(() => undefined);
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await h?.close();
  });

  function cases(): Case[] {
    const json = { 'content-type': 'application/json' };
    const am = (
      body: unknown,
      headers: Record<string, string> = bearer(TOKEN),
    ): Pick<Case, 'path' | 'body' | 'headers'> => ({
      path: '/alertmanager',
      body,
      headers: { ...json, ...headers },
    });
    const ok = webhook([alert({})]);
    const bad = (labels: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      am(webhook([alert(labels, extra)]));
    const good = encodeURIComponent(goodWorkflowId);
    const decisions = `/incidents/${good}/decisions`;
    const ack = { step: 'acknowledge', decision: 'acknowledge', by: 'mallory' };
    const dec = (body: unknown, headers: Record<string, string> = bearer(ALICE), path = decisions) => ({
      path,
      body,
      headers: { ...json, ...headers },
    });
    const change = { service: 'api', environment: `hostile-${RUN}`, kind: 'deploy', version: 'v2' };
    const ch = (body: unknown, headers: Record<string, string> = bearer(CHANGES)) => ({
      path: '/events/changes',
      body,
      headers: { ...json, ...headers },
    });
    const manyLabels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v']));
    const manyAnnotations = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`a${i}`, 'v']));
    const minimalAlert = { status: 'firing', labels: { alertname: 'a' }, startsAt: '2026-01-01T00:00:00Z' };
    // A label value with bytes that are not UTF-8 (a surrogate encoded as if it were, then 0xFF).
    const [head, tail] = JSON.stringify(ok).split('"service":"api"');
    const rawBytes = Buffer.concat([
      Buffer.from(`${head}"service":"a`),
      Buffer.from([0xed, 0xa0, 0x80, 0xff]),
      Buffer.from(`"${tail}`),
    ]);
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const nul = '\u0000';
    const nonJson: [string, string][] = [
      ['truncated', '{"version": "4", '],
      ['empty', ''],
      ['single quotes', "{'version': '4'}"],
      ['trailing comma', '{"version":"4",}'],
      ['binary', '\u0000\u0001\u0002'],
    ];
    const notAnObject: [string, string][] = [
      ['null', 'null'],
      ['array', '[]'],
      ['string', '"alert"'],
      ['number', '4'],
    ];
    const forms = [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      'text/json',
    ];
    const host = (name: string, path = '/healthz', headers: Record<string, string> = {}): Case => ({
      name: `Host: ${name} ${path}`,
      path,
      headers: { host: name, ...headers },
      status: 421,
    });
    const rawGet = (path: string, extra = '') =>
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}Connection: close\r\n\r\n`;

    return [
      // Webhook tokens.
      { name: 'webhook without a token', ...am(ok, {}), status: 401 },
      { name: 'webhook with a wrong Bearer token', ...am(ok, bearer('nope')), status: 401 },
      { name: 'webhook with an empty Bearer token', ...am(ok, { authorization: 'Bearer ' }), status: 401 },
      { name: 'webhook basic auth, wrong password', ...am(ok, basic('alertmanager', 'nope')), status: 401 },
      { name: 'webhook basic auth, token as user name', ...am(ok, basic(TOKEN, '')), status: 401 },
      { name: 'webhook basic auth, not base64', ...am(ok, { authorization: 'Basic %%%%' }), status: 401 },
      { name: 'webhook with a responder token', ...am(ok, bearer(ALICE)), status: 401 },
      { name: 'webhook with the changes token', ...am(ok, bearer(CHANGES)), status: 401 },
      { name: 'webhook with the token in another scheme', ...am(ok, { authorization: `Token ${TOKEN}` }), status: 401 },

      // Only JSON, on every POST endpoint (a web page can post these without a preflight).
      ...forms.flatMap((type): Case[] => [
        {
          name: `webhook as ${type}`,
          path: '/alertmanager',
          body: 'a=1',
          headers: { 'content-type': type, ...bearer(TOKEN) },
          status: 415,
        },
        {
          name: `change as ${type}`,
          path: '/events/changes',
          body: 'a=1',
          headers: { 'content-type': type, ...bearer(CHANGES) },
          status: 415,
        },
        {
          name: `decision as ${type}`,
          path: decisions,
          body: 'a=1',
          headers: { 'content-type': type, ...bearer(ALICE) },
          status: 415,
        },
      ]),
      {
        name: 'webhook without a content-type',
        path: '/alertmanager',
        body: JSON.stringify(ok),
        headers: bearer(TOKEN),
        status: 415,
      },
      {
        name: 'change without a content-type',
        path: '/events/changes',
        body: JSON.stringify(change),
        headers: bearer(CHANGES),
        status: 415,
      },
      {
        name: 'decision without a content-type',
        path: decisions,
        body: JSON.stringify(ack),
        headers: bearer(ALICE),
        status: 415,
      },

      // Not JSON, or not an object.
      ...nonJson.flatMap(([what, body]): Case[] => [
        { name: `webhook not JSON (${what})`, ...am(body), status: 400, match: /not JSON/ },
        { name: `change not JSON (${what})`, ...ch(body), status: 400, match: /not JSON/ },
        { name: `decision not JSON (${what})`, ...dec(body), status: 400, match: /not JSON/ },
      ]),
      ...notAnObject.flatMap(([what, body]): Case[] => [
        { name: `webhook body ${what}`, ...am(body), status: 400, match: /invalid body/ },
        { name: `change body ${what}`, ...ch(body), status: 400, match: /invalid body/ },
        { name: `decision body ${what}`, ...dec(body), status: 400, match: /invalid body/ },
      ]),

      // Missing and wrong fields, named.
      { name: 'webhook {}', ...am({}), status: 400, fields: ['version', 'groupKey', 'status', 'receiver', 'alerts'] },
      { name: 'change {}', ...ch({}), status: 400, fields: ['service', 'environment', 'kind'] },
      { name: 'decision {}', ...dec({}), status: 400, fields: ['step', 'decision', 'by'] },
      { name: 'webhook version 4 as a number', ...am({ ...ok, version: 4 }), status: 400, fields: ['version'] },
      { name: 'webhook with no alerts', ...am(webhook([])), status: 400, fields: ['alerts'] },
      {
        name: 'webhook alerts not an array',
        ...am({ ...ok, alerts: { 0: alert({}) } }),
        status: 400,
        fields: ['alerts'],
      },
      {
        name: 'alert without alertname',
        ...am(webhook([{ ...alert({}), labels: { service: 'api' } }])),
        status: 400,
        fields: ['alerts.0.labels'],
      },
      { name: 'alert status exploded', ...bad({}, { status: 'exploded' }), status: 400, fields: ['alerts.0.status'] },
      { name: 'label value a number', ...bad({ n: 1 }), status: 400, fields: ['alerts.0.labels.n'] },
      { name: 'labels an array', ...bad({}, { labels: ['alertname'] }), status: 400, fields: ['alerts.0.labels'] },
      {
        name: 'truncatedAlerts negative',
        ...am({ ...ok, truncatedAlerts: -1 }),
        status: 400,
        fields: ['truncatedAlerts'],
      },
      {
        name: 'truncatedAlerts 1e400 (Infinity)',
        ...am(JSON.stringify(ok).replace('"truncatedAlerts":0', '"truncatedAlerts":1e400')),
        status: 400,
        fields: ['truncatedAlerts'],
      },

      // What the store or Temporal could never hold: 400 naming the field.
      {
        name: 'NUL byte in a label value',
        ...bad({ service: `a${nul}b` }),
        status: 400,
        fields: ['alerts.0.labels.service'],
        match: /NUL/,
      },
      { name: 'NUL byte in a label name', ...bad({ [`a${nul}b`]: 'v' }), status: 400, match: /alerts\.0\.labels/ },
      {
        name: 'NUL byte in commonLabels',
        ...am({ ...ok, commonLabels: { service: nul } }),
        status: 400,
        fields: ['commonLabels.service'],
      },
      {
        name: 'NUL byte in the groupKey',
        ...am({ ...ok, groupKey: `{}:{a="${nul}"}` }),
        status: 400,
        fields: ['groupKey'],
      },
      {
        name: 'lone high surrogate "\\ud800" in a label',
        ...am(JSON.stringify(webhook([alert({})])).replace('"service":"api"', '"service":"a\\ud800b"')),
        status: 400,
        fields: ['alerts.0.labels.service'],
        match: /unpaired surrogate/,
      },
      {
        name: 'lone low surrogate "\\udc00" in an annotation',
        ...am(JSON.stringify(webhook([alert({})])).replace('"summary":"hostile"', '"summary":"\\udc00"')),
        status: 400,
        fields: ['alerts.0.annotations.summary'],
        match: /unpaired surrogate/,
      },
      {
        name: 'reversed surrogate pair in a label',
        ...am(JSON.stringify(webhook([alert({})])).replace('"service":"api"', '"service":"\\udc00\\ud800"')),
        status: 400,
        fields: ['alerts.0.labels.service'],
      },
      {
        name: 'startsAt year 0000',
        ...bad({}, { startsAt: '0000-01-01T00:00:00Z' }),
        status: 400,
        fields: ['alerts.0.startsAt'],
        match: /year 0000/,
      },
      {
        name: 'endsAt year 0000 with an offset',
        ...bad({}, { endsAt: '0000-12-31T23:00:00-01:00' }),
        status: 400,
        fields: ['alerts.0.endsAt'],
      },
      {
        name: 'startsAt month 13',
        ...bad({}, { startsAt: '2026-13-01T00:00:00Z' }),
        status: 400,
        fields: ['alerts.0.startsAt'],
      },
      {
        name: 'startsAt 30 February',
        ...bad({}, { startsAt: '2026-02-30T00:00:00Z' }),
        status: 400,
        fields: ['alerts.0.startsAt'],
      },
      {
        name: 'startsAt offset +25:00',
        ...bad({}, { startsAt: '2026-01-01T00:00:00+25:00' }),
        status: 400,
        fields: ['alerts.0.startsAt'],
      },
      {
        name: 'startsAt year 10000',
        ...bad({}, { startsAt: '+010000-01-01T00:00:00Z' }),
        status: 400,
        fields: ['alerts.0.startsAt'],
      },
      { name: 'startsAt a number', ...bad({}, { startsAt: 1e15 }), status: 400, fields: ['alerts.0.startsAt'] },
      {
        name: 'label value of 1025 characters',
        ...bad({ service: 'x'.repeat(1025) }),
        status: 400,
        fields: ['alerts.0.labels.service'],
        match: /at most 1024/,
      },
      {
        name: 'label name of 129 characters',
        ...bad({ ['n'.repeat(129)]: 'v' }),
        status: 400,
        match: /alerts\.0\.labels/,
      },
      {
        name: 'annotation of 8193 characters',
        ...bad({}, { annotations: { description: 'x'.repeat(8193) } }),
        status: 400,
        fields: ['alerts.0.annotations.description'],
        match: /at most 8192/,
      },
      { name: '65 labels', ...bad(manyLabels), status: 400, fields: ['alerts.0.labels'], match: /at most 64/ },
      {
        name: '65 annotations',
        ...bad({}, { annotations: manyAnnotations }),
        status: 400,
        fields: ['alerts.0.annotations'],
        match: /at most 64/,
      },
      {
        name: '1001 alerts',
        ...am(webhook(Array.from({ length: 1001 }, () => minimalAlert))),
        status: 400,
        fields: ['alerts'],
        match: /at most 1000 alerts/,
      },
      {
        name: 'groupKey of 8193 characters',
        ...am({ ...ok, groupKey: 'g'.repeat(8193) }),
        status: 400,
        fields: ['groupKey'],
      },
      {
        name: 'alerts nested 30000 deep',
        ...am(`{"version":"4","groupKey":"g","status":"firing","receiver":"r","alerts":${deep(30000)}}`),
        status: 400,
        fields: ['alerts.0'],
      },
      {
        name: 'labels nested 10000 deep',
        ...am(JSON.stringify(ok).replace('"service":"api"', `"service":${'{"a":'.repeat(10000)}1${'}'.repeat(10000)}`)),
        status: 400,
        fields: ['alerts.0.labels.service'],
      },

      // Odd but holdable: accepted (200), nothing started for an alert no route matches.
      {
        name: 'an unknown field nested 30000 deep',
        ...am(JSON.stringify(ok).replace('{', `{"extra":${deep(30000)},`)),
        status: 200,
        match: /"outcome":"ignored"/,
      },
      {
        name: 'label value of exactly 1024 characters',
        ...bad({ service: 'x'.repeat(1024) }),
        status: 200,
        match: /"outcome":"ignored"/,
      },
      {
        name: 'invalid UTF-8 and a raw surrogate (ED A0 80): decoded as U+FFFD',
        ...am(rawBytes),
        status: 200,
        match: /"outcome":"ignored"/,
      },
      {
        name: '__proto__ in the labels cannot name a runbook',
        ...am(
          JSON.stringify(ok).replace(
            '"service":"api"',
            '"__proto__":{"runbook":"api-error-budget","alertname":"ApiErrorRate"},"service":"api"',
          ),
        ),
        status: 200,
        match: /"outcome":"ignored"/,
      },
      {
        name: 'a top-level __proto__',
        ...am(JSON.stringify(ok).replace('{', '{"__proto__":{"alerts":[]},')),
        status: 200,
        match: /"outcome":"ignored"/,
      },
      {
        name: 'labels named after Object.prototype',
        ...bad({ alertname: 'hasOwnProperty', constructor: 'x', toString: 'y', valueOf: 'z' }),
        status: 200,
        match: /"outcome":"ignored"/,
      },
      {
        name: 'runbook label "constructor"',
        ...bad({ runbook: 'constructor' }),
        status: 200,
        match: /unknown runbook/,
      },
      {
        name: 'runbook label "../../etc/passwd"',
        ...bad({ runbook: '../../etc/passwd' }),
        status: 200,
        match: /unknown runbook/,
      },
      {
        name: 'startsAt year 0001 at +14:00 (before year 1 in UTC)',
        ...bad({}, { startsAt: '0001-01-01T00:00:00+14:00' }),
        status: 200,
        match: /"outcome":"ignored"/,
      },
      // A routed alert whose labels are PromQL: accepted and started, the label kept as it came.
      {
        name: 'PromQL injection in a routed alert',
        ...am(
          webhook(
            [alert({ alertname: 'ApiErrorRate', service: INJECTION, instance: INJECTION, environment: `inj-${RUN}` })],
            { groupKey: `{}:{inj="${RUN}"}` },
          ),
        ),
        status: 200,
        match: /"outcome":"started"/,
      },

      // Within 1024 characters, but over what Temporal keeps in a keyword search attribute (2048 bytes as
      // JSON): 400, not a 503 that Alertmanager would retry for ever.
      {
        name: 'routed alert, environment of 1000 "€" (3002 bytes as JSON)',
        ...am(
          webhook([alert({ alertname: 'ApiErrorRate', environment: '€'.repeat(1000) })], {
            groupKey: `{}:{euro="${RUN}"}`,
          }),
        ),
        status: 400,
        fields: ['alerts.0.labels.environment'],
        match: /2048 bytes as JSON/,
      },
      {
        name: "routed alert, service of 1024 '\"' (2050 bytes as JSON)",
        ...am(
          webhook([alert({ alertname: 'ApiErrorRate', service: '"'.repeat(1024), environment: `quote-${RUN}` })], {
            groupKey: `{}:{quote="${RUN}"}`,
          }),
        ),
        status: 400,
        fields: ['alerts.0.labels.service'],
      },
      {
        name: 'routed alert, priority of 342 U+0001 (2054 bytes as JSON)',
        ...am(
          webhook([alert({ alertname: 'ApiErrorRate', priority: '\u0001'.repeat(342), environment: `ctl-${RUN}` })], {
            groupKey: `{}:{ctl="${RUN}"}`,
          }),
        ),
        status: 400,
        fields: ['alerts.0.labels.priority'],
      },
      {
        name: 'commonLabels service of 1000 "€"',
        ...am({ ...ok, commonLabels: { service: '€'.repeat(1000) } }),
        status: 400,
        fields: ['commonLabels.service'],
      },
      // At the limit: started.
      {
        name: 'routed alert, environment of 682 "€" (2048 bytes as JSON)',
        ...am(
          webhook([alert({ alertname: 'ApiErrorRate', environment: '€'.repeat(682) })], {
            groupKey: `{}:{euro682="${RUN}"}`,
          }),
        ),
        status: 200,
        match: /"outcome":"started"/,
      },
      {
        name: 'routed alert, service of 1024 characters',
        ...am(
          webhook([alert({ alertname: 'ApiErrorRate', service: 's'.repeat(1024), environment: `long-${RUN}` })], {
            groupKey: `{}:{long="${RUN}"}`,
          }),
        ),
        status: 200,
        match: /"outcome":"started"/,
      },

      // Body limits, with and without content-length.
      { name: 'webhook over the limit (content-length)', ...bad({ pad: 'x'.repeat(BODY_LIMIT) }), status: 413 },
      { name: 'webhook over the limit (chunked)', ...bad({ pad: 'x'.repeat(BODY_LIMIT) }), chunked: true, status: 413 },
      {
        name: 'webhook over the limit, declared only',
        path: '',
        raw: `POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${1024 ** 3}\r\nConnection: close\r\n\r\n{`,
        status: 413,
      },
      { name: 'change over 64 KiB (content-length)', ...ch({ ...change, pad: 'x'.repeat(65 * 1024) }), status: 413 },
      {
        name: 'change over 64 KiB (chunked)',
        ...ch({ ...change, pad: 'x'.repeat(65 * 1024) }),
        chunked: true,
        status: 413,
      },
      {
        name: 'decision over 64 KiB (chunked)',
        ...dec({ ...ack, pad: 'x'.repeat(65 * 1024) }),
        chunked: true,
        status: 413,
      },

      // Paths: malformed escapes, unknown routes and methods.
      {
        name: 'decision for /incidents/%zz',
        ...dec(ack, bearer(ALICE), '/incidents/%zz/decisions'),
        status: 400,
        match: /malformed %-escape/,
      },
      {
        name: 'decision for a truncated UTF-8 escape',
        ...dec(ack, bearer(ALICE), '/incidents/incident%2Fx%E0%A4%A/decisions'),
        status: 400,
        match: /malformed %-escape/,
      },
      {
        name: 'decision for an escaped lone surrogate (%ED%A0%80)',
        ...dec(ack, bearer(ALICE), '/incidents/%ED%A0%80/decisions'),
        status: 400,
        match: /malformed %-escape/,
      },
      {
        name: 'GET /incidents/%zz with a responder token',
        path: '/incidents/%zz',
        headers: bearer(BOB),
        status: 400,
        match: /malformed %-escape/,
      },
      { name: 'GET /', path: '/', status: 404 },
      { name: 'GET /admin', path: '/admin', status: 404 },
      { name: 'GET /healthz/', path: '/healthz/', status: 404 },
      { name: 'GET /HEALTHZ', path: '/HEALTHZ', status: 404 },
      { name: 'GET /../../etc/passwd', raw: rawGet('/../../etc/passwd'), path: '', status: 404 },
      { name: 'GET /incidents/a/b', path: '/incidents/a/b', headers: bearer(BOB), status: 404 },
      { name: 'GET /alertmanager', path: '/alertmanager', headers: bearer(TOKEN), status: 404 },
      { name: 'PUT /alertmanager', method: 'PUT', ...am(ok), status: 404 },
      {
        name: 'DELETE /incidents/:id',
        method: 'DELETE',
        path: `/incidents/${good}`,
        headers: bearer(ALICE),
        status: 404,
      },
      { name: 'PATCH /events/changes', method: 'PATCH', ...ch(change), status: 404 },
      {
        name: 'OPTIONS /alertmanager (CORS preflight)',
        method: 'OPTIONS',
        path: '/alertmanager',
        headers: { origin: 'http://attacker.example', 'access-control-request-method': 'POST' },
        status: 404,
      },
      { name: 'HEAD /healthz', method: 'HEAD', path: '/healthz', status: 404 },
      { name: 'GET /incidents/:id/decisions', path: decisions, headers: bearer(ALICE), status: 404 },

      // Request targets that are not a URL relative to the gateway: an unknown route, never a 500 from
      // the URL parser, and never a route of its own.
      // (Parsed as URLs of their own, `//` and `//%` were a 500 and `//attacker.example/healthz` was /healthz.)
      { name: 'GET //', raw: rawGet('//'), path: '', status: 404 },
      { name: 'GET //%', raw: rawGet('//%'), path: '', status: 404 },
      {
        name: 'GET //:99999/healthz',
        raw: rawGet('//:99999/healthz'),
        path: '',
        status: 404,
      },
      {
        name: 'GET //attacker.example/healthz',
        raw: rawGet('//attacker.example/healthz'),
        path: '',
        status: 404,
      },
      // Incident ids Temporal would refuse: no such incident.
      { name: 'GET /incidents/%00', path: '/incidents/%00', headers: bearer(BOB), status: 404 },
      {
        name: 'GET /incidents/<1500 characters>',
        path: `/incidents/${'i'.repeat(1500)}`,
        headers: bearer(BOB),
        status: 404,
      },
      { name: 'GET /incidents/%20', path: '/incidents/%20', headers: bearer(BOB), status: 404 },
      { name: 'decision for /incidents/%00', ...dec(ack, bearer(ALICE), '/incidents/%00/decisions'), status: 404 },
      {
        name: 'decision for an id of 1500 characters',
        ...dec(ack, bearer(ALICE), `/incidents/${'i'.repeat(1500)}/decisions`),
        status: 404,
      },

      // DNS rebinding: another name in Host.
      host('attacker.example'),
      host(`attacker.example:${port}`),
      host(`127.0.0.1.attacker.example:${port}`),
      host(`localhost.attacker.example`),
      host(`user@127.0.0.1:${port}`),
      {
        name: 'an empty Host header',
        raw: 'GET /healthz HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n',
        path: '',
        status: 421,
      },
      host('attacker.example', '/alertmanager', { 'content-type': 'application/json', ...bearer(TOKEN) }),
      host('attacker.example', '/incidents', bearer(BOB)),
      { name: 'HTTP/1.0 without a Host header', raw: 'GET /healthz HTTP/1.0\r\n\r\n', path: '', status: 421 },

      // Reads need a responder's token.
      { name: 'GET /incidents without a token', path: '/incidents', status: 401 },
      {
        name: 'GET /incidents?open=true with a wrong token',
        path: '/incidents?open=true',
        headers: bearer('nope'),
        status: 401,
      },
      { name: 'GET /incidents with the webhook token', path: '/incidents', headers: bearer(TOKEN), status: 401 },
      { name: 'GET /incidents with the changes token', path: '/incidents', headers: bearer(CHANGES), status: 401 },
      {
        name: 'GET /incidents with a responder token in basic auth',
        path: '/incidents',
        headers: basic('alice', ALICE),
        status: 401,
      },
      { name: 'GET /incidents/:id without a token', path: `/incidents/${good}`, status: 401 },
      {
        name: 'GET /incidents/:id with a wrong token',
        path: `/incidents/${good}`,
        headers: bearer('nope'),
        status: 401,
      },
      { name: 'GET /incidents/%zz without a token', path: '/incidents/%zz', status: 401 },
      {
        name: 'GET /incidents/:id unknown',
        path: `/incidents/${encodeURIComponent('incident/api-error-budget/none')}`,
        headers: bearer(BOB),
        status: 404,
      },
      {
        name: 'GET /incidents?open=%zz with a responder token',
        path: '/incidents?open=%zz',
        headers: bearer(BOB),
        status: 200,
      },

      // Change events.
      { name: 'change without a token', ...ch(change, {}), status: 401 },
      { name: 'change with a wrong token', ...ch(change, bearer('nope')), status: 401 },
      { name: 'change with the changes token in basic auth', ...ch(change, basic('ci', CHANGES)), status: 401 },
      { name: 'change with a responder token', ...ch(change, bearer(ALICE)), status: 201 },
      { name: 'change with a PromQL-looking service', ...ch({ ...change, service: INJECTION }), status: 201 },
      { name: 'change of kind reboot', ...ch({ ...change, kind: 'reboot' }), status: 400, fields: ['kind'] },
      {
        name: 'change with a NUL in the service',
        ...ch({ ...change, service: `a${nul}` }),
        status: 400,
        fields: ['service'],
      },
      { name: 'change with an empty service', ...ch({ ...change, service: '' }), status: 400, fields: ['service'] },
      { name: 'change at year 0000', ...ch({ ...change, at: '0000-06-01T00:00:00Z' }), status: 400, fields: ['at'] },
      {
        name: 'change with a 2001-character description',
        ...ch({ ...change, description: 'd'.repeat(2001) }),
        status: 400,
        fields: ['description'],
      },

      // Decisions.
      { name: 'decision without a token', ...dec(ack, {}), status: 401 },
      { name: 'decision with a wrong token', ...dec(ack, bearer('nope')), status: 401 },
      { name: 'decision with the webhook token', ...dec(ack, bearer(TOKEN)), status: 401 },
      { name: 'decision with the changes token', ...dec(ack, bearer(CHANGES)), status: 401 },
      {
        name: 'decision by a responder without the role',
        ...dec(ack, bearer(BOB)),
        status: 403,
        match: /lacks the role/,
      },
      {
        name: 'decision for an unknown step',
        ...dec({ ...ack, step: 'no-such-step' }),
        status: 409,
        match: /unknown step/,
      },
      { name: 'decision for a step not waiting', ...dec({ ...ack, step: 'degraded-mode' }), status: 409 },
      { name: 'decision the step does not take', ...dec({ ...ack, decision: 'approve' }), status: 409 },
      {
        name: 'decision for an unknown incident',
        ...dec(ack, bearer(ALICE), `/incidents/${encodeURIComponent('incident/api-error-budget/none')}/decisions`),
        status: 404,
      },
      { name: 'decision "maybe"', ...dec({ ...ack, decision: 'maybe' }), status: 400, fields: ['decision'] },
      { name: 'decision by a name with a NUL', ...dec({ ...ack, by: `a${nul}` }), status: 400, fields: ['by'] },
      {
        name: 'decision step of 129 characters',
        ...dec({ ...ack, step: 's'.repeat(129) }),
        status: 400,
        fields: ['step'],
      },

      // Headers: many small ones are fine; past Node's 16 KiB header limit, Node itself answers 431.
      {
        name: '500 headers',
        path: '/healthz',
        headers: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-h${i}`, 'v'])),
        status: 200,
      },
      {
        name: '20 KiB of headers',
        raw: rawGet('/healthz', Array.from({ length: 2000 }, (_, i) => `x-h${i}: vvvvvv\r\n`).join('')),
        path: '',
        status: 431,
      },
      { name: 'a NUL byte in a header', raw: rawGet('/healthz', 'x-a: a\u0000b\r\n'), path: '', status: 400 },
      {
        name: 'content-length and chunked together (smuggling)',
        raw: `POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
        path: '',
        status: 400,
      },
    ];
  }

  test('every hostile request gets the status the contract gives it, and none a 500', async () => {
    const counts = new Map<number, number>();
    const wrong: string[] = [];
    for (const c of cases()) {
      const answer = await send(c);
      counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
      const problems: string[] = [];
      if (answer.status !== c.status) problems.push(`got ${answer.status}, want ${c.status}`);
      if (answer.status === c.status && c.match && !c.match.test(answer.text))
        problems.push(`body does not match ${c.match}`);
      if (answer.status === c.status && c.fields) {
        let named: string[] = [];
        try {
          named = (JSON.parse(answer.text) as { fields?: { path: string }[] }).fields?.map((f) => f.path) ?? [];
        } catch {
          /* named stays empty */
        }
        const missing = c.fields.filter((f) => !named.includes(f));
        if (missing.length) problems.push(`fields do not name ${missing.join(', ')} (named: ${named.join(', ')})`);
      }
      if (answer.status === 200 && /"outcome":"started"/.test(answer.text))
        for (const a of (JSON.parse(answer.text) as { alerts: { workflowId?: string }[] }).alerts)
          if (a.workflowId) started.push(a.workflowId);
      if (problems.length) wrong.push(`${c.name}: ${problems.join('; ')}: ${answer.text.slice(0, 300)}`);
    }
    const summary = [...counts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${status}×${n}`)
      .join(' ');
    console.log(`hostile input: ${summary}`);
    assert.deepEqual(wrong, []);
    assert.equal(counts.get(500) ?? 0, 0, 'no request may get a 500');
  });

  test('what was accepted before the batch is still there, and the gateway still serves', async () => {
    const handle = h.client.workflow.getHandle(goodWorkflowId);
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    const state = await handle.query(stateQuery);
    assert.ok(
      state.pendingApprovals.some((p) => p.step === 'acknowledge'),
      'no hostile decision acknowledged the page',
    );
    const receipts = await h.pool.query('SELECT outcome FROM alert_receipts WHERE workflow_id = $1', [goodWorkflowId]);
    assert.deepEqual(
      receipts.rows.map((r) => r.outcome),
      ['started'],
    );
    const change = await h.pool.query('SELECT kind, version FROM change_events WHERE id = $1', [goodChangeId]);
    assert.deepEqual(change.rows[0], { kind: 'deploy', version: 'v1' });
    // The PromQL-looking label is kept as it came, not interpreted.
    const injected = await h.pool.query(
      `SELECT labels->>'service' AS service, outcome FROM alert_receipts WHERE labels->>'environment' = $1`,
      [`inj-${RUN}`],
    );
    assert.deepEqual(injected.rows, [{ service: INJECTION, outcome: 'started' }]);
    const ready = await send({ name: 'readyz', path: '/readyz', status: 200 });
    assert.equal(ready.status, 200, ready.text);
  });
});
