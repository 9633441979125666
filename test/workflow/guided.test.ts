// A catalogue runbook run from its document on the local Temporal server: manual steps decided
// through the update, checks really run (HTTP against a local service, SQL against Postgres), the
// action approved and run once, the steps taken recorded with the incident.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadDocument } from '../../catalogue/load';
import { stateQuery, type IncidentState } from '../../workflows/definitions';
import { createHarness, eventually, type Harness } from '../support/harness';
import { SlackStandIn } from '../support/standins';
import { World } from '../support/scenario';

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

  before(async () => {
    await slack.listen();
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    h = await createHarness(
      'guided',
      {
        notifications: {
          oncall: { slackChannel: '#oncall' },
          infrastructure: { slackChannel: '#infrastructure-alerts' },
        },
        escalation: ['oncall'],
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
    rmSync(world.dir, { recursive: true, force: true });
  });

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
    await decide(id('Look for a deploy'), 'skip', 'no deploy today');
    const s3 = await until('the logs step', (s) =>
      s.pendingApprovals.some((p) => p.step === id('Read the last error lines')),
    );
    await decide(s3.pendingApprovals[0].step, 'done', 'OOM killed');

    await until('the restart approval', waiting('restart-api'));
    assert.equal(restart.count(), 0, 'nothing restarted before approval');
    healthy = true;
    await decide('restart-api', 'approve');
    const result = (await handle.result()) as { status: string; resolution: string };
    assert.equal(result.status, 'resolved');
    assert.equal(restart.count(), 1);
    const end = await handle.query(stateQuery);
    assert.match(
      end.findings.find((f) => f.step === id('Confirm the health endpoint'))?.summary ?? '',
      /^200 \(expected 200: as expected\)/,
    );
    assert.equal(end.steps.find((x) => x.id === id('Look for a deploy'))?.status, 'skipped');
    const { rows } = await h.pool.query('SELECT post_incident FROM incidents WHERE workflow_id = $1', [
      handle.workflowId,
    ]);
    assert.match(rows[0].post_incident.resolution, /OOM killed/);
    assert.equal(rows[0].post_incident.followUps.length, 2);
    // What was done per step, as rows in the document's order: the record the document is updated from.
    const steps = await h.store.steps(handle.workflowId);
    assert.deepEqual(
      steps.map((x) => x.id),
      doc.steps.map((x) => x.id),
    );
    const row = (title: string) => steps.find((x) => x.id === id(title));
    assert.equal(row('Look for a deploy')?.status, 'skipped');
    assert.match(row('Look for a deploy')?.note ?? '', /alice: skip \(no deploy today\)/);
    assert.equal(row('Read the last error lines')?.status, 'done');
    assert.match(row('Read the last error lines')?.note ?? '', /OOM killed/);
    assert.match(row("Check the API's health")?.note ?? '', /503 \(expected 200: NOT as expected\)/);
    assert.ok(steps.filter((x) => x.status === 'done').every((x) => x.durationMs !== null && x.durationMs >= 0));
    assert.ok(!slack.messages.some((m) => m.channel === '#infrastructure-alerts'), 'no escalation before its time');
  });
});
