// End to end with real Prometheus and Alertmanager: a rule on the API's 5xx ratio fires,
// Alertmanager's own webhook delivery starts the runbook through the gateway, a responder
// approves over HTTP, and the incident validates and resolves.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createGateway } from '../../client/gateway/server';
import { freePort } from '../../dev/postgres';
import type { IncidentState, RunbookResult } from '../../workflows/definitions';
import { createHarness, eventually, type Harness } from '../support/harness';
import { SERVICE, World } from '../support/scenario';
import { secret } from '../support/secrets';
import { Alertmanager, ALERTMANAGER, needs, PROMETHEUS } from '../support/system';

const WEBHOOK_TOKEN = secret('WEBHOOK_TOKEN');
const RESPONDER_TOKEN = secret('responder token (carol)');

const RULES = `groups:
  - name: api-reliability
    rules:
      - alert: ApiErrorRate
        expr: |
          sum by (service, environment) (rate(http_requests_total{status=~"5.."}[10s]))
            / sum by (service, environment) (rate(http_requests_total[10s])) > 0.01
        labels:
          severity: critical
        annotations:
          summary: API 5xx ratio above 1%
`;

describe('Prometheus → Alertmanager → gateway → runbook', { skip: needs(PROMETHEUS, ALERTMANAGER) }, () => {
  let world: World;
  let alertmanager: Alertmanager;
  let h: Harness;
  let gateway: http.Server;
  let gatewayUrl = '';

  before(async () => {
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    alertmanager = await new Alertmanager().start({ webhookUrl: `${gatewayUrl}/alertmanager`, token: WEBHOOK_TOKEN });
    world = new World();
    await world.start({ rules: RULES, alertmanagerUrl: alertmanager.url });
    const rollback = world.marker('e2e-rollback');
    h = await createHarness(
      'e2e',
      world.config({
        responders: [
          { name: 'carol', tokenSha256: createHash('sha256').update(RESPONDER_TOKEN).digest('hex'), roles: ['oncall'] },
        ],
        actions: { 'rollback-deploy': { run: rollback.argv } },
      }),
      world.env(),
    );
    await h.startWorker();
    gateway = createGateway({
      client: h.client,
      config: h.config,
      store: h.store,
      webhookToken: WEBHOOK_TOKEN,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      log: () => undefined,
    });
    await new Promise<void>((r) => gateway.listen(port, '127.0.0.1', r));
  });

  after(async () => {
    gateway?.closeAllConnections();
    await new Promise((r) => gateway?.close(r));
    await h?.close();
    await world?.stop();
    await alertmanager?.stop();
  });

  test('the alert fires, the runbook asks, carol approves over HTTP, validation holds, the incident closes', async () => {
    // A deploy, then the 5xx it brought: what makes the deploy count toward the diagnosis.
    await world.calm();
    await h.store.addChange({
      service: SERVICE,
      environment: 'prod',
      kind: 'deploy',
      version: 'v3.1.0',
      at: new Date().toISOString(),
    });
    await new Promise((r) => setTimeout(r, 1_500));
    await world.errors(0.2);
    // Alertmanager delivers the firing alert to the gateway, which starts the runbook.
    const receipt = await eventually(
      'Alertmanager to deliver the alert',
      async () => {
        const { rows } = await h.pool.query(
          `SELECT workflow_id, outcome, labels FROM alert_receipts WHERE alertname = 'ApiErrorRate' AND labels->>'environment' = 'prod' AND outcome = 'started' AND received_at > now() - interval '5 minutes' ORDER BY id DESC LIMIT 1`,
        );
        return rows[0] as { workflow_id: string; labels: Record<string, string> } | undefined;
      },
      90_000,
      500,
    );
    assert.equal(receipt.labels.severity, 'critical');
    const id = encodeURIComponent(receipt.workflow_id);

    const waiting = await eventually('the approval request', async () => {
      const res = await fetch(`${gatewayUrl}/incidents/${id}`, {
        headers: { authorization: `Bearer ${RESPONDER_TOKEN}` },
      });
      const s = (await res.json()) as IncidentState;
      return s.pendingApprovals?.some((p) => p.step === 'rollback-deploy') ? s : undefined;
    });
    assert.equal(waiting.severity, 'P1', 'severity critical maps to P1');
    assert.equal(waiting.diagnosis?.primary, 'deployment_regression');
    assert.match(waiting.findings.find((f) => f.step === 'dashboard-review')!.summary, /\/v1\/chat/);

    await world.calm();
    const decided = await fetch(`${gatewayUrl}/incidents/${id}/decisions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${RESPONDER_TOKEN}` },
      body: JSON.stringify({ step: 'rollback-deploy', decision: 'approve', by: 'carol', comment: 'roll back v3.1.0' }),
    });
    assert.equal(decided.status, 200);

    const result = (await h.client.workflow.getHandle(receipt.workflow_id).result()) as RunbookResult;
    assert.equal(result.status, 'resolved');
    const listed = (await (
      await fetch(`${gatewayUrl}/incidents`, { headers: { authorization: `Bearer ${RESPONDER_TOKEN}` } })
    ).json()) as { workflowId: string; status: string }[];
    await eventually('the incident listed as resolved', async () => {
      const again = (await (
        await fetch(`${gatewayUrl}/incidents`, { headers: { authorization: `Bearer ${RESPONDER_TOKEN}` } })
      ).json()) as { workflowId: string; status: string }[];
      return again.find((i) => i.workflowId === receipt.workflow_id && i.status === 'resolved') ? true : undefined;
    });
    assert.ok(Array.isArray(listed));

    // Once the ratio is back under 1%, Alertmanager sends the resolved notice too.
    await eventually(
      'the resolved notice',
      async () => {
        const { rows } = await h.pool.query(
          `SELECT 1 FROM alert_receipts WHERE alertname = 'ApiErrorRate' AND status = 'resolved' AND received_at > now() - interval '5 minutes'`,
        );
        return rows.length ? true : undefined;
      },
      90_000,
      500,
    );
  });
});
