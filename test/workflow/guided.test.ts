// A catalogue runbook run from its document on the local Temporal server: manual steps decided
// through the update, checks really run (HTTP against a local service, SQL against Postgres), the
// action approved and run once, the steps taken recorded with the incident. It ends resolved only
// when its confirming checks passed and a responder closed it with the root cause; otherwise it is
// unresolved until a responder decides.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { parseDocument } from '../../catalogue/document';
import { loadDocument } from '../../catalogue/load';
import {
  incidentSearchAttributes,
  incidentWorkflowId,
  stateQuery,
  type IncidentState,
  type RunbookResult,
} from '../../workflows/definitions';
import { createHarness, eventually, recordHistory, type Harness } from '../support/harness';
import { SlackStandIn } from '../support/standins';
import { documentWith } from '../support/documents';
import { World } from '../support/scenario';

const CLOSE = 'close-incident';

describe('service-down, run from catalogue/runbooks/service-down.md', () => {
  const slack = new SlackStandIn();
  // Only for its marker command: a file that counts how often the restart ran.
  const world = new World();
  let h: Harness;
  let healthy = false;
  const api = http.createServer((req, res) => {
    res.writeHead(req.url === '/healthz' && healthy ? 200 : 503);
    res.end(healthy ? 'ok' : 'down');
  });
  const restart = world.marker('restart-api');
  let closedUrl = '';
  // Where a workflow input that carries its own document would send the worker.
  const planted: string[] = [];
  const elsewhere = http.createServer((req, res) => {
    planted.push(req.url ?? '');
    res.end('ok');
  });
  let elsewhereUrl = '';

  before(async () => {
    await slack.listen();
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
    elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    // A port nothing listens on: taken, then given back.
    const gone = http.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    closedUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
    await new Promise((r) => gone.close(r));
    h = await createHarness(
      'guided',
      {
        notifications: {
          oncall: { slackChannel: '#oncall' },
          infrastructure: { slackChannel: '#infrastructure-alerts' },
        },
        escalation: ['oncall'],
        // Allowed on purpose: only the worker's own document keeps the check away from it.
        catalogue: { httpHosts: [new URL(elsewhereUrl).host, new URL(closedUrl).host] },
        actions: { 'restart-api': { run: restart.argv } },
        runbooks: { 'service-down': { params: { vars: { apiUrl }, stepDeadline: '1h', followUpAfter: '1h' } } },
      },
      { SLACK_BOT_TOKEN: slack.token, SLACK_API_URL: `${slack.url}/api` },
    );
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    await slack.close();
    api.closeAllConnections();
    await new Promise((r) => api.close(r));
    elsewhere.closeAllConnections();
    await new Promise((r) => elsewhere.close(r));
    rmSync(world.dir, { recursive: true, force: true });
  });

  /** Runs a document of the test's own as the worker's service-down document (its policy and config). */
  async function startDocument(markdown: string, vars: Record<string, string>) {
    const key = `doc-${randomUUID().slice(0, 8)}`;
    const input = h.incidents.buildInput(
      { runbook: 'service-down', service: 'api', environment: 'prod', source: 'manual', startedBy: 'test' },
      key,
    );
    h.documents.set('service-down', parseDocument(markdown, 'test.md'));
    input.params = { ...input.params, vars };
    return h.client.workflow.start('guidedRunbook', {
      taskQueue: h.taskQueue,
      workflowId: incidentWorkflowId('service-down', key),
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes(incidentSearchAttributes(input)),
    }) as Promise<WorkflowHandle<(i: unknown) => Promise<RunbookResult>>>;
  }

  /** The state once the runbook ended or waits at its close: what it claims before anyone closes it. */
  async function atTheClose(handle: WorkflowHandle): Promise<{ state: IncidentState; ended: boolean }> {
    let ended = false;
    void handle.result().then(
      () => (ended = true),
      () => (ended = true),
    );
    return eventually('the end of the steps', async () => {
      const state = await handle.query(stateQuery);
      return ended || state.pendingApprovals.some((p) => p.step === CLOSE) ? { state, ended } : undefined;
    });
  }

  const postIncident = async (workflowId: string) =>
    (await h.pool.query('SELECT status, post_incident FROM incidents WHERE workflow_id = $1', [workflowId])).rows[0];

  test('manual steps by decision, checks against expected outputs, the restart after approval, once', async () => {
    const doc = loadDocument('service-down');
    const id = (title: string) => doc.steps.find((s) => s.title.startsWith(title))?.id ?? `no step "${title}"`;
    const started = await h.incidents.start({
      runbook: 'service-down',
      service: 'api',
      environment: 'prod',
      source: 'manual',
      startedBy: 'test',
    });
    const handle = h.client.workflow.getHandle(started.workflowId);
    const until = (what: string, ok: (s: IncidentState) => boolean) =>
      eventually(what, async () => ((s) => (ok(s) ? s : undefined))(await handle.query(stateQuery)));
    const waiting = (step: string) => (s: IncidentState) => s.pendingApprovals.some((p) => p.step === step);
    const decide = (step: string, decision: 'done' | 'skip' | 'approve', comment?: string) =>
      h.incidents.decide(handle.workflowId, { step, decision, by: 'alice', comment });

    const first = await until('the first manual step', (s) => s.pendingApprovals.length > 0);
    const ack = first.pendingApprovals[0].step;
    assert.equal(first.steps[0].id, ack);
    assert.deepEqual(first.pendingApprovals[0].decisions, ['done', 'skip']);
    await decide(ack, 'done', 'paged and announced');

    const s2 = await until('the investigation manual step', waiting(id('Look for a deploy')));
    const health = s2.findings.find((f) => f.step === id("Check the API's health"));
    assert.match(health?.summary ?? '', /^503 \(expected 200: NOT as expected\)/);
    assert.equal(health?.level, 'warning');
    assert.match(
      s2.findings.find((f) => f.step === id('Check the database'))?.summary ?? '',
      /^\d+ \(expected < 90: as expected\)/,
    );
    // One outcome per step: a check that missed is not ticked, a source not configured says so.
    const status = (title: string) => s2.steps.find((x) => x.id === id(title));
    assert.equal(status("Check the API's health")?.status, 'failed');
    assert.equal(status("Check the API's health")?.note, 'expected 200, got 503');
    assert.equal(status('Check the database')?.status, 'done');
    assert.equal(status("Check the LLM provider's status page")?.status, 'unavailable');
    assert.match(
      status("Check the LLM provider's status page")?.note ?? '',
      /^diagnostic provider-status: unavailable: no status page configured \(ANTHROPIC_STATUS_URL\)/,
    );
    const events = s2.findings.find((f) => f.step === id('Check whether cost events'));
    assert.equal(status('Check whether cost events')?.status, events?.level === 'info' ? 'done' : 'failed');
    await decide(id('Look for a deploy'), 'skip', 'no deploy today');
    const s3 = await until('the logs step', (s) =>
      s.pendingApprovals.some((p) => p.step === id('Read the last error lines')),
    );
    await decide(s3.pendingApprovals[0].step, 'done', 'OOM killed');

    await until('the restart approval', waiting('restart-api'));
    assert.equal(restart.count(), 0, 'nothing restarted before approval');
    healthy = true;
    await decide('restart-api', 'approve');

    // The confirming check passed; the responder who closes it gives the root cause.
    const close = await until('the responder to close it', waiting(CLOSE));
    assert.equal(close.steps.at(-1)?.id, CLOSE);
    assert.equal(close.steps.at(-1)?.title, 'Responder confirms the resolution and records the root cause');
    assert.match(close.pendingApprovals[0].detail ?? '', /confirmed by its checks: Confirm the health endpoint/);
    assert.notEqual(close.status, 'resolved');
    const rootCause = 'the API ran out of memory after the cache change';
    await decide(CLOSE, 'done', rootCause);
    const result = (await handle.result()) as RunbookResult;
    assert.equal(result.status, 'resolved');
    assert.match(result.resolution, /confirmed by its checks.*closed by alice/);
    assert.equal(restart.count(), 1);
    const end = await handle.query(stateQuery);
    assert.match(
      end.findings.find((f) => f.step === id('Confirm the health endpoint'))?.summary ?? '',
      /^200 \(expected 200: as expected\)/,
    );
    assert.equal(end.steps.find((x) => x.id === id('Look for a deploy'))?.status, 'skipped');
    const row0 = await postIncident(handle.workflowId);
    assert.equal(row0.status, 'resolved');
    assert.equal(row0.post_incident.rootCause, rootCause);
    assert.match(row0.post_incident.resolution, /OOM killed/);
    assert.equal(row0.post_incident.followUps.length, 2);
    // What was done per step, as rows in the document's order: the record the document is updated from.
    const steps = await h.store.steps(handle.workflowId);
    assert.deepEqual(
      steps.map((x) => x.id),
      [...doc.steps.map((x) => x.id), CLOSE],
    );
    const row = (title: string) => steps.find((x) => x.id === id(title));
    assert.equal(row('Look for a deploy')?.status, 'skipped');
    assert.match(row('Look for a deploy')?.note ?? '', /alice: skip \(no deploy today\)/);
    assert.deepEqual(
      row('Look for a deploy')?.decisions?.map((d) => [d.decision, d.by, d.comment]),
      [['skip', 'alice', 'no deploy today']],
    );
    assert.equal(row('Read the last error lines')?.status, 'done');
    assert.match(row('Read the last error lines')?.note ?? '', /OOM killed/);
    assert.deepEqual(
      row('Read the last error lines')?.decisions?.map((d) => [d.decision, d.by, d.comment]),
      [['done', 'alice', 'OOM killed']],
    );
    assert.equal(row("Check the API's health")?.status, 'failed');
    assert.equal(row("Check the API's health")?.note, 'expected 200, got 503');
    assert.equal(row("Check the LLM provider's status page")?.status, 'unavailable');
    assert.equal(row('Confirm the health endpoint')?.status, 'done');
    const closed = steps.find((x) => x.id === CLOSE);
    assert.equal(closed?.status, 'done');
    assert.deepEqual(
      closed?.decisions?.map((d) => [d.decision, d.by, d.comment]),
      [['done', 'alice', rootCause]],
    );
    assert.match(closed?.note ?? '', new RegExp(`alice: done \\(${rootCause}\\)`));
    assert.ok(steps.filter((x) => x.status === 'done').every((x) => x.durationMs !== null && x.durationMs >= 0));
    assert.ok(!slack.messages.some((m) => m.channel === '#infrastructure-alerts'), 'no escalation before its time');
  });

  test('the worker runs its own document, not one the workflow input carries', async () => {
    h.documents.delete('service-down');
    const doc = loadDocument('service-down');
    const key = `planted-${randomUUID().slice(0, 8)}`;
    const input = h.incidents.buildInput(
      { runbook: 'service-down', service: 'api', environment: 'prod', source: 'manual', startedBy: 'test' },
      key,
    );
    // As if whoever starts the workflow wrote the document: a step of its own, another URL, a write.
    const health = doc.steps.find((s) => s.check?.kind === 'http')!;
    const database = doc.steps.find((s) => s.check?.body.includes('pg_stat_activity'))!;
    input.document = {
      ...doc,
      steps: [
        { ...database, id: 'planted', title: 'Planted', check: { kind: 'sql', body: 'DELETE FROM incidents' } },
        ...doc.steps.map((s) =>
          s.id === health.id
            ? { ...s, check: { kind: 'http' as const, body: `GET ${elsewhereUrl}/planted` } }
            : s.id === database.id
              ? { ...s, check: { kind: 'sql' as const, body: "SELECT 'planted'" } }
              : s,
        ),
      ],
    };
    const handle = await h.client.workflow.start('guidedRunbook', {
      taskQueue: h.taskQueue,
      workflowId: incidentWorkflowId('service-down', key),
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes(incidentSearchAttributes(input)),
    });
    try {
      const first = await eventually('the first manual step', async () => {
        const s = await handle.query(stateQuery);
        return s.pendingApprovals.length ? s : undefined;
      });
      assert.deepEqual(
        first.steps.map((s) => s.id),
        [...doc.steps.map((s) => s.id), CLOSE],
        "the worker's document's steps",
      );
      await h.incidents.decide(handle.workflowId, {
        step: first.pendingApprovals[0].step,
        decision: 'done',
        by: 'alice',
      });
      const s = await eventually('the checks to run', async () => {
        const state = await handle.query(stateQuery);
        return state.pendingApprovals.some((p) => p.step !== first.pendingApprovals[0].step) ? state : undefined;
      });
      const finding = (id: string) => s.findings.find((f) => f.step === id);
      assert.match(JSON.stringify(finding(health.id)?.evidence), /\/healthz/, 'the health check went to {apiUrl}');
      assert.match(finding(database.id)?.summary ?? '', /^\d+ \(expected < 90: as expected\)/, 'its own SQL ran');
      assert.deepEqual(planted, [], 'nothing reached the URL the input named');
    } finally {
      await handle.terminate('test done');
    }
  });

  test('a check the document no longer has runs nothing: unavailable, and done by hand', async () => {
    const handle = await startDocument(
      documentWith(`## Immediate Actions

1. Look around

## Investigation Steps

1. Count the connections
   \`\`\`check sql
   SELECT count(*) FROM pg_stat_activity
   \`\`\`
   Expected output: \`< 1000\`

## Resolution Steps
`),
      {},
    );
    await eventually('the manual step', async () =>
      (await handle.query(stateQuery)).pendingApprovals.length ? true : undefined,
    );
    // The document changes under the running incident: the check is gone, another in its place.
    h.documents.set(
      'service-down',
      parseDocument(
        documentWith(
          `## Immediate Actions\n\n1. Look around\n\n## Investigation Steps\n\n1. Probe\n   \`\`\`check http\n   GET ${elsewhereUrl}/changed\n   \`\`\`\n\n## Resolution Steps\n`,
        ),
      ),
    );
    await h.incidents.decide(handle.workflowId, { step: 'look-around', decision: 'done', by: 'bob' });
    const asked = await eventually('a responder asked to count by hand', async () =>
      (await handle.query(stateQuery)).pendingApprovals.find((p) => p.step === 'count-the-connections'),
    );
    assert.equal(asked.kind, 'manual');
    assert.match(
      asked.detail ?? '',
      /no longer has the check "count-the-connections".*Do "Count the connections" by hand/,
    );
    await h.incidents.decide(handle.workflowId, {
      step: 'count-the-connections',
      decision: 'done',
      by: 'bob',
      comment: '12 in psql',
    });
    await eventually('the close', async () =>
      (await handle.query(stateQuery)).pendingApprovals.some((p) => p.step === CLOSE) ? true : undefined,
    );
    await h.incidents.decide(handle.workflowId, { step: CLOSE, decision: 'skip', by: 'bob' });
    assert.equal((await handle.result()).status, 'unresolved');
    const step = (await h.store.steps(handle.workflowId)).find((s) => s.id === 'count-the-connections');
    assert.equal(step?.status, 'unavailable');
    assert.match(step?.note ?? '', /no longer has the check .*nothing was run; by hand, bob: done \(12 in psql\)$/);
    assert.deepEqual(planted, [], 'nothing else ran in its place');
    await recordHistory(h.client, handle.workflowId, 'guided-v3-document-changed');
  });

  test('an empty SQL result is not as expected; an unreachable confirming check leaves it unresolved', async () => {
    const handle = await startDocument(
      documentWith(`## Immediate Actions

1. Count the connections of a database that is not there
   \`\`\`check sql
   SELECT count(*) FROM pg_stat_activity WHERE false GROUP BY datname
   \`\`\`
   Expected output: \`< 90\`

## Investigation Steps

1. Look around

## Resolution Steps

1. Confirm the API answers
   \`\`\`check http
   GET {apiUrl}/healthz
   \`\`\`
   Expected output: \`200\``),
      { apiUrl: closedUrl },
    );
    await eventually('the manual step', async () =>
      (await handle.query(stateQuery)).pendingApprovals.length ? true : undefined,
    );
    await h.incidents.decide(handle.workflowId, { step: 'look-around', decision: 'done', by: 'bob' });
    const { state } = await atTheClose(handle);
    const step = (id: string) => state.steps.find((s) => s.id === id);
    assert.notEqual(state.status, 'resolved', 'nothing confirmed the resolution');
    const empty = step('count-the-connections-of-a-database-that');
    assert.equal(empty?.status, 'failed', `the empty result: ${empty?.status} (${empty?.note})`);
    assert.equal(empty?.note, 'expected < 90, got an empty result');
    const confirm = step('confirm-the-api-answers');
    assert.equal(confirm?.status, 'unavailable', `the confirming check: ${confirm?.status} (${confirm?.note})`);
    assert.match(confirm?.note ?? '', new RegExp(`^http check GET ${closedUrl}/healthz: unavailable: `));
    assert.notEqual(state.status, 'resolved', 'nothing confirmed the resolution');
    // A responder decides; until then it is not resolved, and says why.
    const pending = state.pendingApprovals.find((p) => p.step === CLOSE);
    assert.ok(pending, 'the responder is asked to close it');
    assert.match(pending.detail ?? '', /not confirmed by its checks: Confirm the API answers: unavailable/);
    assert.match(step(CLOSE)?.note ?? '', /not confirmed by its checks/);
    await h.incidents.decide(handle.workflowId, { step: CLOSE, decision: 'skip', by: 'bob' });
    const result = await handle.result();
    assert.equal(result.status, 'unresolved');
    assert.match(result.resolution, /closed unresolved by bob/);
    const row = await postIncident(handle.workflowId);
    assert.equal(row.status, 'unresolved');
    assert.equal(row.post_incident.rootCause, 'not given by bob');
    const steps = await h.store.steps(handle.workflowId);
    assert.deepEqual(
      steps.map((s) => [s.id, s.status]),
      [
        ['count-the-connections-of-a-database-that', 'failed'],
        ['look-around', 'done'],
        ['confirm-the-api-answers', 'unavailable'],
        [CLOSE, 'skipped'],
      ],
    );
    assert.deepEqual(
      steps.at(-1)?.decisions?.map((d) => [d.decision, d.by]),
      [['skip', 'bob']],
    );
  });

  test('a marked confirming check whose variable is unset: resolved only by a responder, by hand', async () => {
    const handle = await startDocument(
      documentWith(`## Immediate Actions

1. Check the API through its public URL
   \`\`\`check http
   GET {publicUrl}/healthz
   \`\`\`
   Expected output: \`200\`
   Confirms resolution

## Investigation Steps

## Resolution Steps

1. Count the connections
   \`\`\`check sql
   SELECT count(*) FROM pg_stat_activity
   \`\`\`
   Expected output: \`< 1000\``),
      {},
    );
    const { state } = await atTheClose(handle);
    const check = state.steps.find((s) => s.id === 'check-the-api-through-its-public-url');
    assert.equal(check?.status, 'unavailable', `${check?.status} (${check?.note})`);
    assert.match(
      check?.note ?? '',
      /^http check GET \{publicUrl\}\/healthz: unavailable: not configured: \{publicUrl\}/,
    );
    // The last section's check passed, but the document marks another as the confirmation.
    assert.equal(state.steps.find((s) => s.id === 'count-the-connections')?.status, 'done');
    assert.notEqual(state.status, 'resolved', 'nothing confirmed the resolution');
    const rootCause = 'a certificate expired on the load balancer; renewed by hand';
    await h.incidents.decide(handle.workflowId, { step: CLOSE, decision: 'done', by: 'carol', comment: rootCause });
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assert.match(
      result.resolution,
      /confirmed by hand by carol.*not confirmed by its checks: Check the API through its public URL: unavailable/,
    );
    const row = await postIncident(handle.workflowId);
    assert.equal(row.status, 'resolved');
    assert.equal(row.post_incident.rootCause, rootCause);
    const closed = (await h.store.steps(handle.workflowId)).find((s) => s.id === CLOSE);
    assert.equal(closed?.status, 'done');
    assert.match(closed?.note ?? '', /confirmed by hand by carol/);
    assert.deepEqual(
      closed?.decisions?.map((d) => [d.decision, d.by, d.comment]),
      [['done', 'carol', rootCause]],
    );
  });
});
