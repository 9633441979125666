// The API Error Budget runbook on the local Temporal dev server, with a real Prometheus watching
// a real API and stand-ins for Slack, PagerDuty, the status page, Loki and Jaeger.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { ChangeEvent } from '../../activities/db/incident-store';
import { DecisionRefused } from '../../client/incidents';
import { stateQuery, type AlertEvent, type IncidentState, type RunbookResult } from '../../workflows/definitions';
import { renderChecklist } from '../../workflows/toolkit/runbook';
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
          'degraded-mode': { flag: { feature: 'degraded_mode', enabled: true } },
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

  /** The alert as Alertmanager sends it, fired `agoMs` ago (just now: after the errors it fires on began). */
  function alert(environment: string, status: 'firing' | 'resolved' = 'firing', agoMs = 1_000): AlertEvent {
    return {
      key: `fp-${environment}`,
      status,
      alertname: 'ApiErrorRate',
      labels: { alertname: 'ApiErrorRate', service: SERVICE, environment },
      annotations: {},
      startsAt: new Date(Date.now() - agoMs).toISOString(),
    };
  }

  async function open(environment: string, params: Record<string, unknown> = {}, agoMs?: number) {
    const started = await h.incidents.start({
      runbook: 'api-error-budget',
      key: environment,
      service: SERVICE,
      environment,
      alert: alert(environment, 'firing', agoMs),
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
    decision: 'approve' | 'reject' | 'done' | 'skip' | 'acknowledge' | 'confirm' | 'extend' | 'escalate',
    by = 'alice',
    comment?: string,
  ) {
    return h.incidents.decide(handle.workflowId, { step, decision, by, authenticated: true, comment });
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const calm = () => world.calm();
  const errors = (rate: number) => world.errors(rate);

  /** A change recorded now, then the errors rise after it: what makes it count toward a cause. */
  async function changeThenErrors(
    env: string,
    change: Omit<ChangeEvent, 'service' | 'environment' | 'at'>,
    rate = 0.1,
  ) {
    await calm();
    await h.store.addChange({ service: SERVICE, environment: env, at: new Date().toISOString(), ...change });
    await sleep(1_500);
    await errors(rate);
  }

  test('deployment regression: paged, acknowledged, diagnosed from a rise after the deploy, approved, held, closed', async () => {
    const env = `deploy-${randomUUID().slice(0, 6)}`;
    const pagesBefore = world.pagerduty.events.length;
    await changeThenErrors(env, { kind: 'deploy', version: 'v2.4.1' });
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

    const handle = await open(env);
    const s = await waitingOn(handle, 'rollback-deploy');
    assert.equal(s.status, 'awaiting_approval');
    assert.equal(s.diagnosis?.primary, 'deployment_regression');
    assert.ok(
      s.diagnosis?.causes[0].evidence.some((e) => e.includes('v2.4.1') && /rose from 0\.00% before/.test(e)),
      `the deploy counts because the errors rose after it: ${s.diagnosis?.causes[0].evidence} / ${s.findings.find((f) => f.step === 'recent-changes')?.summary}`,
    );
    assert.ok(s.diagnosis?.sources?.read.includes('prometheus (5xx per route)'));
    const dashboard = s.findings.find((f) => f.step === 'dashboard-review');
    assert.match(dashboard!.summary, /\/v1\/chat/, 'the elevated route is named');
    assert.match(s.findings.find((f) => f.step === 'trace-inspection')!.summary, /TypeError/);
    assert.match(s.findings.find((f) => f.step === 'error-logs')!.summary, /10 error lines/);
    assert.deepEqual(s.pendingApprovals.find((p) => p.step === 'rollback-deploy')?.roles, ['oncall']);

    // The page went out at the start; the bot's own post is not an acknowledgement: a human's is.
    const ackStep = s.steps.find((x) => x.id === 'acknowledge')!;
    assert.equal(ackStep.status, 'waiting', 'nobody has acknowledged yet');
    assert.match(ackStep.note!, /paged .*#oncall/);
    assert.ok(
      world.pagerduty.events.slice(pagesBefore).some((e) => e.dedup_key === handle.workflowId),
      'on-call paged at the start',
    );
    await decide(handle, 'acknowledge', 'acknowledge', 'alice', 'on it');
    const acked = await eventually('the acknowledgement', async () => {
      const x = (await state(handle)).steps.find((st) => st.id === 'acknowledge');
      return x?.status === 'done' ? x : undefined;
    });
    assert.deepEqual(
      acked.decisions?.map(({ by, decision, comment, authenticated }) => ({ by, decision, comment, authenticated })),
      [{ by: 'alice', decision: 'acknowledge', comment: 'on it', authenticated: true }],
    );

    await calm();
    const accepted = await decide(handle, 'rollback-deploy', 'approve', 'alice', 'roll it back');
    assert.equal(accepted.by, 'alice');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assert.equal(rollbackMarker.count(), 1, 'the rollback ran exactly once');
    await recordHistory(h.client, handle.workflowId, 'aeb-deployment-regression-approved');

    const final = await state(handle);
    const validate = final.steps.find((x) => x.id === 'validate-error-ratio')!;
    assert.equal(validate.status, 'done');
    assert.match(validate.note!, /held over 8s: 5xx 0\.00% of \d+ requests/, 'judged over the whole window');
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
    const decisions = await h.pool.query(
      `SELECT step, decided_by, authenticated, comment, outcome FROM decisions WHERE workflow_id = $1 ORDER BY at`,
      [handle.workflowId],
    );
    assert.deepEqual(decisions.rows, [
      { step: 'acknowledge', decided_by: 'alice', authenticated: true, comment: 'on it', outcome: 'accepted' },
      {
        step: 'rollback-deploy',
        decided_by: 'alice',
        authenticated: true,
        comment: 'roll it back',
        outcome: 'accepted',
      },
    ]);
    const steps = await h.store.steps(handle.workflowId);
    const rollbackRow = steps.find((x) => x.id === 'rollback-deploy')!;
    assert.equal(rollbackRow.status, 'done');
    assert.equal(rollbackRow.decisions?.[0].by, 'alice', 'the step row says who approved it');
    assert.equal(rollbackRow.decisions?.[0].comment, 'roll it back');
    const followUp = await h.client.workflow
      .getHandle(`followup/${handle.workflowId}/${(await handle.describe()).runId}`)
      .describe();
    assert.equal(followUp.status.name, 'RUNNING', 'the follow-up reminder outlives the incident');
    await h.client.workflow.getHandle(followUp.workflowId).terminate('test done');
  });

  test('decisions are checked: role, pending step, unknown step, unknown and finished incidents', async () => {
    const env = `decide-${randomUUID().slice(0, 6)}`;
    const handle = await open(env);
    await waitingOn(handle, 'acknowledge');
    await assert.rejects(
      decide(handle, 'acknowledge', 'acknowledge', 'bob'),
      (e: DecisionRefused) => e.code === 403 && /lacks the role/.test(e.message),
    );
    await assert.rejects(
      decide(handle, 'acknowledge', 'acknowledge', 'mallory'),
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
      decide(handle, 'acknowledge', 'done'),
      (e: DecisionRefused) => e.code === 409 && /takes acknowledge/.test(e.message),
    );
    await assert.rejects(
      h.incidents.decide('incident/api-error-budget/nope', { step: 'x', decision: 'approve', by: 'alice' }),
      (e: DecisionRefused) => e.code === 404,
    );
    const s = await state(handle);
    assert.deepEqual(
      s.pendingApprovals.map((p) => p.step).filter((x) => x === 'acknowledge'),
      ['acknowledge'],
      'refused decisions change nothing',
    );
    await handle.cancel();
    await assert.rejects(handle.result());
    await assert.rejects(
      decide(handle, 'acknowledge', 'acknowledge'),
      (e: DecisionRefused) => e.code === 409 && /finished/.test(e.message),
    );
  });

  test('reject: no mitigation left, escalates, responders mitigate by hand, validation closes it', async () => {
    const env = `reject-${randomUUID().slice(0, 6)}`;
    await changeThenErrors(env, { kind: 'deploy' });
    const handle = await open(env);
    await waitingOn(handle, 'rollback-deploy');
    await calm();
    const pagesBefore = world.pagerduty.events.length;
    await decide(handle, 'rollback-deploy', 'reject');
    const s = await waitingOn(handle, 'manual-mitigation');
    assert.equal(s.steps.find((x) => x.id === 'rollback-deploy')?.status, 'skipped');
    assert.equal(s.mitigations.find((m) => m.step === 'rollback-deploy')?.status, 'rejected');
    await eventually('a page for the escalation', async () =>
      world.pagerduty.events.length > pagesBefore ? true : undefined,
    );
    assert.equal(world.pagerduty.events.at(-1)!.dedup_key, handle.workflowId);
    await decide(handle, 'manual-mitigation', 'done', 'alice', 'restarted the chat pods');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assert.match(result.resolution, /mitigated by hand by alice \(restarted the chat pods\)/);
    await recordHistory(h.client, handle.workflowId, 'aeb-rejected-then-manual');
    const manual = (await state(handle)).steps.find((x) => x.id === 'manual-mitigation')!;
    assert.equal(manual.status, 'done', 'marked done, shown done');
    assert.equal(manual.decisions?.[0].comment, 'restarted the chat pods', 'the comment is kept');
  });

  test('approval deadline: pages the next tier, keeps waiting, then takes the decision', async () => {
    const env = `deadline-${randomUUID().slice(0, 6)}`;
    await changeThenErrors(env, { kind: 'deploy' });
    const handle = await open(env, { approvalDeadline: '2s' });
    await waitingOn(handle, 'rollback-deploy');
    const pagesBefore = world.pagerduty.events.length;
    // The state counts an escalation as its page goes out: wait for the pages to land too.
    const escalated = await eventually('two escalations, both paged', async () => {
      const s = await state(handle);
      const paged =
        world.pagerduty.events.length - pagesBefore >= 2 &&
        world.slack.in('#incident-secondary').some((t) => t.includes(handle.workflowId));
      const rollback = s.pendingApprovals.find((p) => p.step === 'rollback-deploy');
      return (rollback?.escalations ?? 0) >= 2 && paged ? s : undefined;
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
    assert.match(next.steps.find((x) => x.id === 'validate-error-ratio')!.note!, /broke the alert threshold/);
    assert.match(
      next.steps.find((x) => x.id === 'validate-error-ratio')!.note!,
      /Next: circuit-breaker-queue waits for approval/,
      'a failed window says what happens next',
    );
    await calm();
    await decide(handle, 'circuit-breaker-queue', 'approve');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    await recordHistory(h.client, handle.workflowId, 'aeb-validation-failed-next-mitigation');
    const final = await state(handle);
    assert.deepEqual(
      final.mitigations.map((m) => [m.step, m.status]),
      [
        ['raise-concurrency', 'undone'],
        ['circuit-breaker-queue', 'applied'],
      ],
    );
  });

  test('third-party outage: degraded mode flag on, customer success told; cancel puts the flag back as it was', async () => {
    const env = `outage-${randomUUID().slice(0, 6)}`;
    world.status.indicator = 'major';
    world.status.description = 'Elevated errors on the Messages API';
    await errors(0.2);
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
      assert.deepEqual(rows, [], 'cancel undid the temporary mitigation: no row before, none after');
      await recordHistory(h.client, handle.workflowId, 'aeb-degraded-mode-cancelled');
      const final = await state(handle);
      assert.equal(final.status, 'cancelled');
      assert.equal(final.mitigations[0].status, 'undone');
    } finally {
      world.status.indicator = 'none';
      world.api.errorRates = {};
    }
  });

  test("each diagnosis branch proposes the document's mitigation, and only from evidence", async () => {
    const cases: { name: string; setup: (env: string) => Promise<void>; cause: string; step: string }[] = [
      {
        name: 'config drift',
        cause: 'config_drift',
        step: 'restore-secret',
        setup: async (env) => {
          await changeThenErrors(env, { kind: 'secret', description: 'rotated OTLP token' });
          world.errorLogs(env, 'OTLP exporter: 401 Unauthorized');
        },
      },
      {
        name: 'database errors after a migration',
        cause: 'database_errors',
        step: 'migration-rollback',
        setup: async (env) => {
          await changeThenErrors(env, { kind: 'migration', version: '0042_tenant_ref' });
          world.errorLogs(env, 'error: column "tenant_ref" does not exist');
        },
      },
      {
        name: 'a deploy while the errors were already high',
        cause: 'unknown',
        step: 'manual-mitigation',
        setup: async (env) => {
          await errors(0.1);
          await sleep(3_000);
          await h.store.addChange({ service: SERVICE, environment: env, kind: 'deploy', at: new Date().toISOString() });
          await sleep(2_000);
        },
      },
      {
        name: 'no error signal at all, a deploy notwithstanding',
        cause: 'insufficient_data',
        step: 'manual-mitigation',
        setup: async (env) => {
          await calm();
          await h.store.addChange({ service: SERVICE, environment: env, kind: 'deploy', at: new Date().toISOString() });
        },
      },
    ];
    for (const c of cases) {
      const env = `branch-${c.cause}-${randomUUID().slice(0, 4)}`;
      await c.setup(env);
      const handle = await open(env);
      const s = await waitingOn(handle, c.step);
      assert.equal(s.diagnosis?.primary, c.cause, c.name);
      if (c.step === 'manual-mitigation')
        assert.ok(
          s.steps
            .filter((x) => x.section.startsWith('3.') && x.kind === 'approval')
            .every((x) => x.status === 'skipped'),
          `${c.name}: no mitigation of the runbook's proposed`,
        );
      if (c.cause === 'unknown')
        assert.match(s.findings.find((f) => f.step === 'recent-changes')!.summary, /not a cause: errors did not rise/);
      await handle.cancel();
    }
    world.api.errorRates = {};
  });

  test('a deploy recorded after the alert started is not a cause', async () => {
    const env = `late-${randomUUID().slice(0, 6)}`;
    await errors(0.1);
    await h.store.addChange({
      service: SERVICE,
      environment: env,
      kind: 'deploy',
      version: 'v9',
      at: new Date().toISOString(),
    });
    const handle = await open(env, {}, 60_000); // the alert started a minute before the deploy
    const s = await waitingOn(handle, 'manual-mitigation');
    assert.notEqual(s.diagnosis?.primary, 'deployment_regression');
    assert.match(
      s.findings.find((f) => f.step === 'recent-changes')!.summary,
      /deploy v9 .*came after the alert started/,
    );
    await handle.cancel();
    world.api.errorRates = {};
  });

  test('a 0.5 % error ratio through the window does not pass, even when the last check is clean', async () => {
    const env = `window-${randomUUID().slice(0, 6)}`;
    await changeThenErrors(env, { kind: 'deploy' });
    const handle = await open(env, { validationWindow: '12s', validationInterval: '3s' });
    await waitingOn(handle, 'rollback-deploy');
    // 2.4 % of /v1/chat is 0.8 % of all requests: under the alert threshold, over the 0.2 % target.
    world.api.errorRates = { '/v1/chat': 0.024 };
    await sleep(4_000);
    await decide(handle, 'rollback-deploy', 'approve');
    await eventually('half the window', async () =>
      /check 2\/4/.test((await state(handle)).steps.find((x) => x.id === 'validate-error-ratio')?.note ?? '')
        ? true
        : undefined,
    );
    world.api.errorRates = {};
    const s = await waitingOn(handle, 'manual-mitigation');
    const v = s.steps.find((x) => x.id === 'validate-error-ratio')!;
    assert.equal(v.status, 'failed');
    // Judged over the whole window (a 4 s sample of this little traffic may also cross 1 % on the way).
    assert.match(v.note!, /over 12s: 5xx 0\.[2-9]\d% of \d+ requests \(target < 0\.20%/);
    assert.match(v.note!, /Next: responders mitigate by hand/);
    await handle.cancel();
  });

  test('a re-fired alert joins the open incident; its resolution withdraws the pending approval', async () => {
    const env = `refire-${randomUUID().slice(0, 6)}`;
    await changeThenErrors(env, { kind: 'deploy' });
    const handle = await open(env);
    await waitingOn(handle, 'rollback-deploy');
    await calm();
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
    const resolvedAt = await h.incidents.resolve('api-error-budget', env, [
      { ...alert(env, 'resolved'), endsAt: new Date().toISOString() },
    ]);
    assert.equal(resolvedAt, handle.workflowId);
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assert.match(result.resolution, /resolved before any mitigation/);
    await recordHistory(h.client, handle.workflowId, 'aeb-alert-resolved-withdrawn');
    const final = await state(handle);
    assert.equal(final.alerts.length, 1, 'the re-fired alert is the same alert');
    assert.equal(final.alerts[0].status, 'resolved');
    const runs = await h.pool.query('SELECT 1 FROM mitigation_runs WHERE workflow_id = $1', [handle.workflowId]);
    assert.equal(runs.rowCount, 0, 'no mitigation ran for this incident');
    assert.equal(
      await h.incidents.resolve('api-error-budget', `${env}-none`, [alert(env, 'resolved')]),
      undefined,
      'no open incident: nothing started',
    );
  });
});

describe('api-error-budget with nothing to read', { skip }, () => {
  let world: World;
  let blind: Harness;
  let quiet: Harness;

  before(async () => {
    world = await new World().start();
    const base = world.config();
    const params = { ...base.runbooks!['api-error-budget']!.params, approvalDeadline: '1h' };
    // No Prometheus, Loki, traces or status pages: the README's embedded defaults.
    blind = await createHarness('aeb-blind', {
      ...base,
      dataSources: {},
      runbooks: { 'api-error-budget': { params } },
    });
    // Prometheus, scoped to an environment the API serves no traffic in.
    quiet = await createHarness(
      'aeb-quiet',
      {
        ...base,
        dataSources: {
          ...base.dataSources,
          prometheus: {
            url: world.prometheus.url,
            selector: 'service="{service}",environment="{environment}"',
            rateWindow: '4s',
          },
        },
        runbooks: { 'api-error-budget': { params } },
      },
      world.env(),
    );
    await blind.startWorker();
    await quiet.startWorker();
  });

  after(async () => {
    await blind?.close();
    await quiet?.close();
    await world?.stop();
  });

  async function open(h: Harness, environment: string) {
    const started = await h.incidents.start({
      runbook: 'api-error-budget',
      key: environment,
      service: SERVICE,
      environment,
      alert: {
        key: `fp-${environment}`,
        status: 'firing',
        alertname: 'ApiErrorRate',
        labels: { alertname: 'ApiErrorRate', service: SERVICE, environment },
        annotations: {},
        startsAt: new Date(Date.now() - 60_000).toISOString(),
      },
      source: 'alertmanager',
      startedBy: 'test',
    });
    return h.client.workflow.getHandle<(i: unknown) => Promise<RunbookResult>>(started.workflowId);
  }

  async function waitingOn(handle: WorkflowHandle, step: string): Promise<IncidentState> {
    return eventually(`a pending decision on ${step}`, async () => {
      const s = await handle.query(stateQuery);
      return s.pendingApprovals.some((p) => p.step === step) ? s : undefined;
    });
  }

  test('no data sources: nothing ticked without data, no diagnosis from a deploy alone, a human asked', async () => {
    const env = `blind-${randomUUID().slice(0, 6)}`;
    await blind.store.addChange({
      service: SERVICE,
      environment: env,
      kind: 'deploy',
      version: 'v2.4.1',
      at: new Date(Date.now() - 120_000).toISOString(),
    });
    const handle = await open(blind, env);
    const s = await waitingOn(handle, 'manual-mitigation');
    const status = (id: string) => s.steps.find((x) => x.id === id)!;
    for (const id of ['dashboard-review', 'trace-inspection', 'error-logs'])
      assert.equal(status(id).status, 'unavailable', `${id}: ${status(id).note}`);
    assert.match(status('dashboard-review').note!, /Prometheus not configured/);
    assert.match(status('dependency-check').note!, /redis: not configured/);
    assert.doesNotMatch(status('dependency-check').note!, /redis: DOWN/);
    assert.equal(s.diagnosis?.primary, 'insufficient_data');
    assert.deepEqual(s.diagnosis?.causes, []);
    assert.equal(status('diagnosis').status, 'unavailable', 'no signal, no diagnosis: not ticked');
    assert.equal(status('rollback-deploy').status, 'skipped', 'no rollback proposed without an error signal');
    assert.match(status('recent-changes').note!, /cannot tell: 5xx history unavailable/);
    // The page could not go out (no paging target reachable) and nobody acknowledged: not done.
    assert.equal(status('acknowledge').status, 'waiting');
    assert.match(status('acknowledge').note!, /page NOT delivered/);

    // The same outcome in the step rows and in the Web UI's checklist; only done is ticked.
    await eventually('the step rows', async () => {
      const rows = await blind.store.steps(handle.workflowId);
      return rows.find((r) => r.id === 'dashboard-review')?.status === 'unavailable' ? rows : undefined;
    });
    // Waiting on a person, the whole timeline is in the store, written when something worth recording
    // happened (a status, the diagnosis, a question), not after every step.
    await eventually('the timeline stored', async () => {
      const { rows } = await blind.pool.query('SELECT max(seq)::int AS n FROM incident_events WHERE workflow_id = $1', [
        handle.workflowId,
      ]);
      return rows[0].n === (await handle.query(stateQuery)).timelineSize ? true : undefined;
    });
    const writes = (await handle.fetchHistory()).events!.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'syncIncident',
    ).length;
    assert.ok(writes <= 6, `${writes} store writes before waiting on a responder (8 when every event was one)`);
    const checklist = renderChecklist(s);
    assert.match(checklist, /- \[ \] ⚠ unavailable: Dashboard review.*Prometheus not configured/);
    assert.doesNotMatch(checklist, /\[x\] Dashboard review/);

    // Skipping the last mitigation leaves the incident open and waiting, not closed.
    await blind.incidents.decide(handle.workflowId, {
      step: 'manual-mitigation',
      decision: 'skip',
      by: 'alice',
      comment: 'looking elsewhere',
    });
    const open2 = await eventually('the incident still open after the skip', async () => {
      const x = await handle.query(stateQuery);
      const m = x.steps.find((st) => st.id === 'manual-mitigation');
      return m?.decisions?.length === 1 && x.pendingApprovals.some((p) => p.step === 'manual-mitigation')
        ? x
        : undefined;
    });
    assert.equal(open2.status, 'awaiting_approval', 'open, waiting on a responder');
    assert.ok(['pending', 'waiting'].includes(open2.steps.find((x) => x.id === 'document')!.status));
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    // Marked done by hand: the window cannot be judged without Prometheus, so a responder is asked again.
    await blind.incidents.decide(handle.workflowId, { step: 'manual-mitigation', decision: 'done', by: 'alice' });
    const judged = await waitingOn(handle, 'validate-error-ratio');
    assert.deepEqual(judged.pendingApprovals.find((p) => p.step === 'validate-error-ratio')?.decisions, [
      'confirm',
      'extend',
      'escalate',
    ]);
    assert.match(
      judged.steps.find((x) => x.id === 'validate-error-ratio')!.note!,
      /insufficient data: 4 of 4 checks had no data/,
    );
    await blind.incidents.decide(handle.workflowId, {
      step: 'validate-error-ratio',
      decision: 'confirm',
      by: 'alice',
      comment: 'dashboards green',
    });
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    const final = await handle.query(stateQuery);
    assert.match(final.steps.find((x) => x.id === 'validate-error-ratio')!.note!, /confirmed healthy by alice/);
    assert.equal(final.steps.find((x) => x.id === 'acknowledge')!.status, 'failed', 'never acknowledged: said so');
    assert.equal(
      final.steps.find((x) => x.id === 'validate-logs')!.status,
      'unavailable',
      'no logs to confirm: not ticked',
    );
    const decisions = await blind.pool.query(`SELECT authenticated FROM decisions WHERE workflow_id = $1`, [
      handle.workflowId,
    ]);
    assert.ok(decisions.rows.length >= 3);
    assert.ok(
      decisions.rows.every((r) => r.authenticated === false),
      'no responders configured: unauthenticated',
    );
    // The whole incident in the store at the end, however lazily it was written on the way.
    const stored = await blind.pool.query('SELECT max(seq)::int AS n FROM incident_events WHERE workflow_id = $1', [
      handle.workflowId,
    ]);
    assert.equal(stored.rows[0].n, final.timelineSize);
    await recordHistory(blind.client, handle.workflowId, 'aeb-v3-store-writes-on-change');
  });

  test('no traffic in the window is not 0 % 5xx: the window ends with insufficient data and asks', async () => {
    const env = `quiet-${randomUUID().slice(0, 6)}`;
    world.errorLogs(env, 'Error: widget exploded');
    const handle = await open(quiet, env);
    await waitingOn(handle, 'manual-mitigation');
    await quiet.incidents.decide(handle.workflowId, { step: 'manual-mitigation', decision: 'done', by: 'alice' });
    const s = await waitingOn(handle, 'validate-error-ratio');
    const v = s.steps.find((x) => x.id === 'validate-error-ratio')!;
    assert.match(v.note!, /insufficient data: 4 of 4 checks had no data; over 8s: 5xx no traffic of 0 requests/);
    await quiet.incidents.decide(handle.workflowId, {
      step: 'validate-error-ratio',
      decision: 'escalate',
      by: 'alice',
    });
    const after = await eventually('the escalation and the next question', async () => {
      const x = await handle.query(stateQuery);
      const m = x.steps.find((st) => st.id === 'validate-error-ratio');
      return m?.status === 'failed' && x.pendingApprovals.some((p) => p.step === 'manual-mitigation') ? x : undefined;
    });
    assert.match(after.steps.find((x) => x.id === 'validate-error-ratio')!.note!, /escalated by alice/);
    await handle.cancel();
  });
});
