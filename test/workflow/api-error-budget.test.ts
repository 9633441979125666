// The API Error Budget runbook on the local Temporal dev server, with a real Prometheus watching
// a real API and stand-ins for Slack, PagerDuty, the status page, Loki and Jaeger.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { DecisionRefused } from '../../client/incidents';
import { stateQuery, type AlertEvent, type IncidentState, type RunbookResult } from '../../workflows/definitions';
import { createHarness, eventually, recordHistory, type Harness } from '../support/harness';
import { SERVICE, World } from '../support/scenario';
import { needs, PROMETHEUS } from '../support/system';

const skip = needs(PROMETHEUS);

describe('api-error-budget on the local Temporal server', { skip }, () => {
  let world: World;
  let h: Harness;
  const rollback = () => world.marker(`rollback-${randomUUID().slice(0, 6)}`);
  let rollbackMarker: ReturnType<typeof rollback>;

  before(async () => {
    world = await new World().start();
    rollbackMarker = rollback();
    h = await createHarness(
      'aeb',
      world.config({
        responders: [
          { name: 'alice', tokenSha256: 'a'.repeat(64), roles: ['oncall'] },
          { name: 'bob', tokenSha256: 'b'.repeat(64), roles: ['viewer'] },
        ],
        approvals: { defaultRoles: ['oncall'], stepRoles: {}, preApproved: [] },
        actions: {
          'rollback-deploy': { run: rollbackMarker.argv },
          'degraded-mode': {
            flag: { feature: 'degraded_mode', enabled: true },
            undoFlag: { feature: 'degraded_mode', enabled: false },
          },
          'raise-concurrency': {
            run: [process.execPath, '-e', 'process.exit(0)'],
            undo: [process.execPath, '-e', 'process.exit(0)'],
          },
          'circuit-breaker-queue': { run: [process.execPath, '-e', 'process.exit(0)'] },
        },
      }),
      world.env(),
    );
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    await world?.stop();
  });

  function alert(environment: string, status: 'firing' | 'resolved' = 'firing'): AlertEvent {
    return {
      key: `fp-${environment}`,
      status,
      alertname: 'ApiErrorRate',
      labels: { alertname: 'ApiErrorRate', service: SERVICE, environment },
      annotations: {},
      startsAt: new Date(Date.now() - 60_000).toISOString(),
    };
  }

  async function open(environment: string, params: Record<string, unknown> = {}) {
    const started = await h.incidents.start({
      runbook: 'api-error-budget',
      key: environment,
      service: SERVICE,
      environment,
      alert: alert(environment),
      source: 'alertmanager',
      startedBy: 'test',
      params,
    });
    return h.client.workflow.getHandle<(i: unknown) => Promise<RunbookResult>>(started.workflowId);
  }

  const state = (handle: WorkflowHandle) => handle.query(stateQuery);

  async function waitingOn(handle: WorkflowHandle, step: string): Promise<IncidentState> {
    let last: IncidentState | undefined;
    try {
      return await eventually(`a pending decision on ${step}`, async () => {
        last = await state(handle);
        return last.pendingApprovals.some((p) => p.step === step) ? last : undefined;
      });
    } catch (err) {
      const seen =
        last &&
        `status ${last.status}, diagnosis ${last.diagnosis?.primary}, pending [${last.pendingApprovals.map((p) => p.step)}]`;
      throw new Error(`${(err as Error).message} (last seen: ${seen})`);
    }
  }

  function decide(
    handle: WorkflowHandle,
    step: string,
    decision: 'approve' | 'reject' | 'done' | 'skip',
    by = 'alice',
  ) {
    return h.incidents.decide(handle.workflowId, { step, decision, by, authenticated: true });
  }

  test('deployment regression: diagnose, approve the rollback, validate 15-minute-style window, clean up, close', async () => {
    const env = `deploy-${randomUUID().slice(0, 6)}`;
    world.api.errorRates = { '/v1/chat': 0.1 };
    await h.store.addChange({
      service: SERVICE,
      environment: env,
      kind: 'deploy',
      version: 'v2.4.1',
      at: new Date(Date.now() - 10 * 60_000).toISOString(),
    });
    world.errorLogs(env, "TypeError: Cannot read properties of undefined (reading 'tenant')");
    world.jaeger.spans.push({
      traceId: 'abcdef0123456789abcdef0123456789',
      service: SERVICE,
      environment: env,
      operation: 'POST /v1/chat',
      route: '/v1/chat',
      error: true,
      exceptionType: 'TypeError',
      message: "Cannot read properties of undefined (reading 'tenant')",
      stack: 'TypeError: ...\n    at handler (chat.ts:42)',
      startUs: Date.now() * 1000 - 30_000_000,
    });
    await eventually('Prometheus to see the 5xx', async () => {
      const r = await world.prometheus.query('sum(rate(http_requests_total{status=~"5.."}[4s]))');
      return r.length && Number(r[0].value[1]) > 0 ? true : undefined;
    });

    const handle = await open(env);
    const s = await waitingOn(handle, 'rollback-deploy');
    assert.equal(s.status, 'awaiting_approval');
    assert.equal(s.diagnosis?.primary, 'deployment_regression');
    assert.ok(
      s.diagnosis?.causes[0].evidence.some((e) => e.includes('v2.4.1')),
      'the deploy is the evidence',
    );
    const dashboard = s.findings.find((f) => f.step === 'dashboard-review');
    assert.match(dashboard!.summary, /\/v1\/chat/, 'the elevated route is named');
    assert.match(s.findings.find((f) => f.step === 'trace-inspection')!.summary, /TypeError/);
    assert.match(s.findings.find((f) => f.step === 'error-logs')!.summary, /10 error lines/);
    assert.deepEqual(s.pendingApprovals[0].roles, ['oncall']);
    assert.ok(
      world.slack.in('#oncall').some((t) => t.includes('Acknowledged')),
      'acknowledged in #oncall',
    );

    world.api.errorRates = {};
    const accepted = await decide(handle, 'rollback-deploy', 'approve');
    assert.equal(accepted.by, 'alice');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assert.equal(rollbackMarker.count(), 1, 'the rollback ran exactly once');
    await recordHistory(h.client, handle.workflowId, 'deployment-regression-approved');

    const final = await state(handle);
    assert.equal(final.steps.find((x) => x.id === 'validate-error-ratio')?.status, 'done');
    assert.equal(final.steps.find((x) => x.id === 'validate-logs')?.status, 'done');
    assert.equal(final.mitigations.find((m) => m.step === 'rollback-deploy')?.status, 'applied');
    const { rows } = await h.pool.query('SELECT status, post_incident FROM incidents WHERE workflow_id = $1', [
      handle.workflowId,
    ]);
    assert.equal(rows[0].status, 'resolved');
    assert.match(rows[0].post_incident.rootCause, /deployment_regression/);
    assert.match(rows[0].post_incident.resolution, /rollback-deploy/);
    const runs = await h.pool.query('SELECT outcome FROM mitigation_runs WHERE workflow_id = $1', [handle.workflowId]);
    assert.deepEqual(runs.rows, [{ outcome: 'succeeded' }]);
    const decisions = await h.pool.query(`SELECT decided_by, outcome FROM decisions WHERE workflow_id = $1`, [
      handle.workflowId,
    ]);
    assert.deepEqual(decisions.rows, [{ decided_by: 'alice', outcome: 'accepted' }]);
    const followUp = await h.client.workflow
      .getHandle(`followup/${handle.workflowId}/${(await handle.describe()).runId}`)
      .describe();
    assert.equal(followUp.status.name, 'RUNNING', 'the follow-up reminder outlives the incident');
    await h.client.workflow.getHandle(followUp.workflowId).terminate('test done');
  });

  test('decisions are checked: role, pending step, unknown step, unknown and finished incidents', async () => {
    const env = `decide-${randomUUID().slice(0, 6)}`;
    await h.store.addChange({ service: SERVICE, environment: env, kind: 'deploy', at: new Date().toISOString() });
    const handle = await open(env);
    await waitingOn(handle, 'rollback-deploy');
    await assert.rejects(
      decide(handle, 'rollback-deploy', 'approve', 'bob'),
      (e: DecisionRefused) => e.code === 403 && /lacks the role/.test(e.message),
    );
    await assert.rejects(
      decide(handle, 'rollback-deploy', 'approve', 'mallory'),
      (e: DecisionRefused) => e.code === 403 && /not a responder/.test(e.message),
    );
    await assert.rejects(
      decide(handle, 'degraded-mode', 'approve'),
      (e: DecisionRefused) => e.code === 409 && /not waiting/.test(e.message),
    );
    await assert.rejects(
      decide(handle, 'no-such-step', 'approve'),
      (e: DecisionRefused) => e.code === 409 && /unknown step/.test(e.message),
    );
    await assert.rejects(
      decide(handle, 'rollback-deploy', 'done'),
      (e: DecisionRefused) => e.code === 409 && /takes approve or reject/.test(e.message),
    );
    await assert.rejects(
      h.incidents.decide('incident/api-error-budget/nope', { step: 'x', decision: 'approve', by: 'alice' }),
      (e: DecisionRefused) => e.code === 404,
    );
    const s = await state(handle);
    assert.equal(s.pendingApprovals.length, 1, 'refused decisions change nothing');
    await handle.cancel();
    await assert.rejects(handle.result());
    await assert.rejects(
      decide(handle, 'rollback-deploy', 'approve'),
      (e: DecisionRefused) => e.code === 409 && /finished/.test(e.message),
    );
  });

  test('reject: no mitigation left, escalates, responders mitigate by hand, validation closes it', async () => {
    const env = `reject-${randomUUID().slice(0, 6)}`;
    world.api.errorRates = {};
    await h.store.addChange({ service: SERVICE, environment: env, kind: 'deploy', at: new Date().toISOString() });
    const handle = await open(env);
    await waitingOn(handle, 'rollback-deploy');
    const pagesBefore = world.pagerduty.events.length;
    await decide(handle, 'rollback-deploy', 'reject');
    const s = await waitingOn(handle, 'manual-mitigation');
    assert.equal(s.steps.find((x) => x.id === 'rollback-deploy')?.status, 'skipped');
    assert.equal(s.mitigations.find((m) => m.step === 'rollback-deploy')?.status, 'rejected');
    await eventually('a page for the escalation', async () =>
      world.pagerduty.events.length > pagesBefore ? true : undefined,
    );
    assert.equal(world.pagerduty.events.at(-1)!.dedup_key, handle.workflowId);
    await decide(handle, 'manual-mitigation', 'done');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    await recordHistory(h.client, handle.workflowId, 'rejected-then-manual');
  });

  test('approval deadline: pages the next tier, keeps waiting, then takes the decision', async () => {
    const env = `deadline-${randomUUID().slice(0, 6)}`;
    await h.store.addChange({ service: SERVICE, environment: env, kind: 'deploy', at: new Date().toISOString() });
    const pagesBefore = world.pagerduty.events.length;
    const handle = await open(env, { approvalDeadline: '2s' });
    await waitingOn(handle, 'rollback-deploy');
    // The state counts an escalation as its page goes out: wait for the pages to land too.
    const escalated = await eventually('two escalations, both paged', async () => {
      const s = await state(handle);
      const paged =
        world.pagerduty.events.length - pagesBefore >= 2 &&
        world.slack.in('#incident-secondary').some((t) => t.includes(handle.workflowId));
      return s.pendingApprovals[0]?.escalations >= 2 && paged ? s : undefined;
    });
    assert.equal(escalated.status, 'awaiting_approval', 'still waiting after escalating');
    const pages = world.pagerduty.events.slice(pagesBefore);
    assert.ok(pages.length >= 2);
    assert.ok(pages.every((p) => p.event_action === 'trigger' && p.dedup_key === handle.workflowId));
    assert.ok(
      world.slack.in('#incident-secondary').some((t) => t.includes(handle.workflowId)),
      'the second escalation went to the next tier',
    );
    await handle.cancel();
  });

  test('validation fails: escalates and offers the next mitigation, which then holds', async () => {
    const env = `ratelimit-${randomUUID().slice(0, 6)}`;
    world.api.errorRates = { '/v1/chat': 0.2 };
    world.errorLogs(env, '429 Too Many Requests: rate limit exceeded');
    const handle = await open(env);
    const s = await waitingOn(handle, 'raise-concurrency');
    assert.equal(s.diagnosis?.primary, 'rate_limiting');
    await decide(handle, 'raise-concurrency', 'approve');
    // Errors stay high: the window ends early and the next mitigation is offered.
    const next = await waitingOn(handle, 'circuit-breaker-queue');
    assert.equal(next.steps.find((x) => x.id === 'validate-error-ratio')?.status, 'failed');
    assert.match(next.steps.find((x) => x.id === 'validate-error-ratio')!.note!, /breached/);
    world.api.errorRates = {};
    await decide(handle, 'circuit-breaker-queue', 'approve');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    await recordHistory(h.client, handle.workflowId, 'validation-failed-next-mitigation');
    const final = await state(handle);
    assert.deepEqual(
      final.mitigations.map((m) => [m.step, m.status]),
      [
        ['raise-concurrency', 'undone'],
        ['circuit-breaker-queue', 'applied'],
      ],
    );
  });

  test('third-party outage: degraded mode flag on, customer success told; cancel turns the flag back off', async () => {
    const env = `outage-${randomUUID().slice(0, 6)}`;
    world.status.indicator = 'major';
    world.status.description = 'Elevated errors on the Messages API';
    world.api.errorRates = { '/v1/chat': 0.2 };
    try {
      const handle = await open(env);
      const s = await waitingOn(handle, 'degraded-mode');
      assert.equal(s.diagnosis?.primary, 'third_party_outage');
      await decide(handle, 'degraded-mode', 'approve');
      await eventually('the degraded mode flag', async () => {
        const { rows } = await h.pool.query("SELECT enabled FROM feature_flags WHERE feature = 'degraded_mode'");
        return rows[0]?.enabled === true ? true : undefined;
      });
      await eventually('customer success told', async () =>
        world.slack.in('#customer-success').length ? true : undefined,
      );
      await eventually('the validation window', async () =>
        (await state(handle)).status === 'validating' ? true : undefined,
      );
      await handle.cancel();
      await assert.rejects(handle.result());
      const { rows } = await h.pool.query("SELECT enabled FROM feature_flags WHERE feature = 'degraded_mode'");
      assert.equal(rows[0].enabled, false, 'cancel undid the temporary mitigation');
      await recordHistory(h.client, handle.workflowId, 'degraded-mode-cancelled');
      const final = await state(handle);
      assert.equal(final.status, 'cancelled');
      assert.equal(final.mitigations[0].status, 'undone');
    } finally {
      world.status.indicator = 'none';
      world.api.errorRates = {};
    }
  });

  test("each diagnosis branch proposes the document's mitigation", async () => {
    const cases: { name: string; setup: (env: string) => Promise<void>; cause: string; step: string }[] = [
      {
        name: 'config drift',
        cause: 'config_drift',
        step: 'restore-secret',
        setup: async (env) => {
          await h.store.addChange({
            service: SERVICE,
            environment: env,
            kind: 'secret',
            description: 'rotated OTLP token',
            at: new Date().toISOString(),
          });
          world.errorLogs(env, 'OTLP exporter: 401 Unauthorized');
        },
      },
      {
        name: 'database errors after a migration',
        cause: 'database_errors',
        step: 'migration-rollback',
        setup: async (env) => {
          await h.store.addChange({
            service: SERVICE,
            environment: env,
            kind: 'migration',
            version: '0042_tenant_ref',
            at: new Date().toISOString(),
          });
          world.errorLogs(env, 'error: column "tenant_ref" does not exist');
        },
      },
      {
        name: 'unknown',
        cause: 'unknown',
        step: 'manual-mitigation',
        setup: async () => undefined,
      },
    ];
    for (const c of cases) {
      const env = `branch-${c.cause}-${randomUUID().slice(0, 4)}`;
      await c.setup(env);
      const handle = await open(env);
      const s = await waitingOn(handle, c.step);
      assert.equal(s.diagnosis?.primary, c.cause, c.name);
      await handle.cancel();
    }
  });

  test('a re-fired alert joins the open incident; its resolution withdraws the pending approval', async () => {
    const env = `refire-${randomUUID().slice(0, 6)}`;
    await h.store.addChange({ service: SERVICE, environment: env, kind: 'deploy', at: new Date().toISOString() });
    const handle = await open(env);
    await waitingOn(handle, 'rollback-deploy');
    const again = await h.incidents.start({
      runbook: 'api-error-budget',
      key: env,
      service: SERVICE,
      environment: env,
      alert: alert(env),
      source: 'alertmanager',
      startedBy: 'test',
    });
    assert.equal(again.outcome, 'joined');
    assert.equal(again.workflowId, handle.workflowId);
    const resolvedAt = await h.incidents.resolve('api-error-budget', env, {
      ...alert(env, 'resolved'),
      endsAt: new Date().toISOString(),
    });
    assert.equal(resolvedAt, handle.workflowId);
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assert.match(result.resolution, /resolved before any mitigation/);
    await recordHistory(h.client, handle.workflowId, 'alert-resolved-withdrawn');
    const final = await state(handle);
    assert.equal(final.alerts.length, 1, 'the re-fired alert is the same alert');
    assert.equal(final.alerts[0].status, 'resolved');
    const runs = await h.pool.query('SELECT 1 FROM mitigation_runs WHERE workflow_id = $1', [handle.workflowId]);
    assert.equal(runs.rowCount, 0, 'no mitigation ran for this incident');
    assert.equal(
      await h.incidents.resolve('api-error-budget', `${env}-none`, alert(env, 'resolved')),
      undefined,
      'no open incident: nothing started',
    );
  });
});
