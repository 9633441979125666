// Policies around the steps: deploys paused inside a release window and resumed after, a
// pre-approved mitigation that runs without a human, decisions by signal (the Web UI's
// "Send Signal"), and a new error spike in the logs failing validation.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  decideUpdate,
  decisionSignal,
  incidentSearchAttributes,
  incidentWorkflowId,
  stateQuery,
  type IncidentState,
  type RunbookResult,
} from '../../workflows/definitions';
import { createHarness, eventually, recordHistory, type Harness } from '../support/harness';
import { SERVICE, World } from '../support/scenario';
import { needs, PROMETHEUS } from '../support/system';

const ALL_DAY = { days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const, start: '00:00', end: '23:59' };

describe('policies', { skip: needs(PROMETHEUS) }, () => {
  let world: World;
  let h: Harness;

  before(async () => {
    world = await new World().start();
    h = await createHarness(
      'policies',
      world.config({
        responders: [
          { name: 'alice', tokenSha256: 'a'.repeat(64), roles: ['oncall'] },
          { name: 'bob', tokenSha256: 'b'.repeat(64), roles: ['viewer'] },
        ],
        approvals: { defaultRoles: ['oncall'], stepRoles: {}, preApproved: ['raise-concurrency'] },
        releaseWindows: [{ ...ALL_DAY, days: [...ALL_DAY.days], utcOffsetMinutes: 0 }],
        actions: {
          'pause-deploys': { flag: { feature: 'automated_deploys', enabled: false } },
          'raise-concurrency': { flag: { feature: 'api_concurrency_limit', enabled: true, value: 'raised' } },
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

  const flag = async (feature: string) =>
    (await h.pool.query('SELECT enabled, value FROM feature_flags WHERE feature = $1', [feature])).rows[0] as
      { enabled: boolean; value: string | null } | undefined;

  async function open(environment: string) {
    const started = await h.incidents.start({
      runbook: 'api-error-budget',
      key: environment,
      service: SERVICE,
      environment,
      source: 'manual',
      startedBy: 'test',
    });
    return h.client.workflow.getHandle(started.workflowId);
  }

  /** A rate-limiting incident in the release window, once both of its mitigations took effect. */
  async function mitigatedRateLimiting(prefix: string) {
    const env = `${prefix}-${randomUUID().slice(0, 6)}`;
    // The app's settings before the incident: what the undo must put back.
    await h.pool.query(
      `INSERT INTO feature_flags (feature, enabled, value) VALUES ('automated_deploys', true, null), ('api_concurrency_limit', true, 'default')
       ON CONFLICT (feature) DO UPDATE SET enabled = excluded.enabled, value = excluded.value`,
    );
    // Prometheus has scraped traffic: every check of the window has a ratio to read.
    await world.calm();
    world.errorLogs(env, '429 Too Many Requests: concurrency limit reached');
    const handle = await open(env);
    await eventually('deploys paused', async () =>
      (await flag('automated_deploys'))?.enabled === false ? true : undefined,
    );
    await eventually('concurrency raised', async () =>
      (await flag('api_concurrency_limit'))?.value === 'raised' ? true : undefined,
    );
    return handle;
  }

  test('inside the release window deploys pause; a pre-approved mitigation runs alone; both are undone after validation', async () => {
    const handle = await mitigatedRateLimiting('policy');
    const result = (await handle.result()) as RunbookResult;
    assert.equal(result.status, 'resolved');
    const s = await handle.query(stateQuery);
    assert.equal(s.diagnosis?.primary, 'rate_limiting');
    assert.match(s.steps.find((x) => x.id === 'pause-deploys')!.note!, /sun,mon/);
    assert.deepEqual(
      s.mitigations.map((m) => [m.step, m.status]),
      [
        ['pause-deploys', 'undone'],
        ['raise-concurrency', 'undone'],
      ],
    );
    assert.deepEqual(await flag('automated_deploys'), { enabled: true, value: null }, 'deploys resumed');
    assert.equal((await flag('api_concurrency_limit'))?.value, 'default', 'concurrency back to its default');
    const { rows } = await h.pool.query(
      "SELECT message FROM incident_events WHERE workflow_id = $1 AND kind = 'pre_approved'",
      [handle.workflowId],
    );
    assert.equal(rows.length, 1, 'the timeline says the policy approved it');
  });

  test('a flag changed by someone during the incident is not overwritten by the undo: a responder is asked', async () => {
    const handle = await mitigatedRateLimiting('tuned');
    // An operator tunes the limit while the incident runs: their value, not the runbook's to undo.
    await h.pool.query("UPDATE feature_flags SET value = 'tuned-by-ops' WHERE feature = 'api_concurrency_limit'");
    const asked = await eventually(
      'the question on the changed flag',
      async () => {
        const st: IncidentState = await handle.query(stateQuery);
        return st.pendingApprovals.find((p) => p.step === 'remove-temporary-mitigations');
      },
      120_000,
    );
    assert.match(
      asked.detail ?? '',
      /Changed since the mitigation, so not put back: raise-concurrency: feature_flags\.api_concurrency_limit was changed since the mitigation \(now enabled=true value=tuned-by-ops; set enabled=true value=raised by the mitigation, enabled=true value=default before the incident\)/,
    );
    await h.incidents.decide(handle.workflowId, {
      step: 'remove-temporary-mitigations',
      decision: 'skip',
      by: 'alice',
      authenticated: true,
    });
    const result = (await handle.result()) as RunbookResult;
    assert.equal(result.status, 'resolved');
    assert.equal((await flag('api_concurrency_limit'))?.value, 'tuned-by-ops', "the operator's value stays");
    assert.deepEqual(await flag('automated_deploys'), { enabled: true, value: null }, 'the untouched one is put back');
    const step = (await handle.query(stateQuery)).steps.find((x) => x.id === 'remove-temporary-mitigations');
    assert.match(step?.note ?? '', /^changed since the mitigation \(alice left it as it is\)/);
    await recordHistory(h.client, handle.workflowId, 'aeb-v2-flag-changed-meanwhile');
  });

  /** Who acknowledged the page, once it is, and whether authenticated. */
  async function acknowledgedBy(handle: WorkflowHandle) {
    const s = await eventually('the acknowledgement', async () => {
      const st: IncidentState = await handle.query(stateQuery);
      return st.steps.find((x) => x.id === 'acknowledge')?.status === 'done' ? st : undefined;
    });
    return s.steps.find((x) => x.id === 'acknowledge')?.decisions?.map((d) => [d.by, d.authenticated]);
  }

  test('only a decision the gateway proved is taken: signals and forged claims are refused and recorded', async () => {
    const env = `signal-${randomUUID().slice(0, 6)}`;
    const handle = await open(env);
    const waiting = () =>
      eventually('the page waiting for an acknowledgement', async () => {
        const s = await handle.query(stateQuery);
        return s.pendingApprovals.some((p) => p.step === 'acknowledge') ? s : undefined;
      });
    await waiting();
    // The Web UI's signal names anyone, and cannot be authenticated.
    await handle.signal(decisionSignal, { step: 'acknowledge', decision: 'acknowledge', by: 'bob' });
    await handle.signal(decisionSignal, {
      step: 'acknowledge',
      decision: 'acknowledge',
      by: 'alice',
      authenticated: true,
    });
    // A client that reaches Temporal directly claims the gateway authenticated it: no proof, a forged one.
    const forged = { step: 'acknowledge', decision: 'acknowledge' as const, by: 'alice', authenticated: true };
    const refusedWith = (why: RegExp) => (err: Error) => why.test(String((err.cause as Error | undefined)?.message));
    await assert.rejects(
      handle.executeUpdate(decideUpdate, { args: [forged] }),
      refusedWith(/no proof from the gateway/),
    );
    await assert.rejects(
      handle.executeUpdate(decideUpdate, {
        args: [{ ...forged, proof: { at: new Date().toISOString(), mac: 'ab'.repeat(32) } }],
      }),
      refusedWith(/the proof does not match/),
    );
    const refused = await eventually('the refusals in the timeline', async () => {
      const { rows } = await h.pool.query(
        "SELECT message FROM incident_events WHERE workflow_id = $1 AND kind = 'decision_refused' ORDER BY seq",
        [handle.workflowId],
      );
      return rows.length >= 4 ? rows.map((r) => r.message as string) : undefined;
    });
    assert.match(refused[0], /bob tried to acknowledge acknowledge: "bob" lacks the role/);
    assert.match(
      refused[1],
      /alice tried to acknowledge acknowledge: a signal is not authenticated: decide through the gateway/,
    );
    assert.match(
      refused[2],
      /alice tried to acknowledge acknowledge: not authenticated by the gateway \(no proof from the gateway\)/,
    );
    assert.match(refused[3], /not authenticated by the gateway \(the proof does not match\)/);
    assert.equal((await waiting()).steps.find((x) => x.id === 'acknowledge')?.decisions, undefined, 'nothing decided');
    // Through the gateway's path: proven, and recorded as authenticated.
    await h.incidents.decide(handle.workflowId, { ...forged });
    assert.deepEqual(await acknowledgedBy(handle), [['alice', true]]);
    await recordHistory(h.client, handle.workflowId, 'aeb-v2-decisions-proven');
    await handle.cancel();
  });

  test('with approvals.trustTemporalSignals a signal decides, recorded as authenticated by Temporal', async () => {
    const key = `trust-${randomUUID().slice(0, 6)}`;
    const input = h.incidents.buildInput(
      { runbook: 'api-error-budget', service: SERVICE, environment: key, source: 'manual', startedBy: 'test' },
      key,
    );
    input.trustTemporalSignals = true;
    const handle = await h.client.workflow.start('apiErrorBudget', {
      taskQueue: h.taskQueue,
      workflowId: incidentWorkflowId('api-error-budget', key),
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes(incidentSearchAttributes(input)),
    });
    await eventually('the page waiting for an acknowledgement', async () =>
      (await handle.query(stateQuery)).pendingApprovals.some((p) => p.step === 'acknowledge') ? true : undefined,
    );
    await handle.signal(decisionSignal, { step: 'acknowledge', decision: 'acknowledge', by: 'alice' });
    assert.deepEqual(await acknowledgedBy(handle), [['alice', true]]);
    await handle.cancel();
  });

  test('a new error spike in the logs during the window fails validation even when the ratio holds', async () => {
    const env = `spike-${randomUUID().slice(0, 6)}`;
    world.api.errorRates = {};
    // No error signal: nothing to diagnose, so responders are asked to mitigate by hand.
    const handle = await open(env);
    await eventually('manual mitigation', async () => {
      const s = await handle.query(stateQuery);
      return s.pendingApprovals.some((p) => p.step === 'manual-mitigation') ? true : undefined;
    });
    await h.incidents.decide(handle.workflowId, {
      step: 'manual-mitigation',
      decision: 'done',
      by: 'alice',
      authenticated: true,
    });
    await eventually('the validation window', async () =>
      (await handle.query(stateQuery)).status === 'validating' ? true : undefined,
    );
    // Forty error lines inside one minute of the window: a spike against a quiet median.
    for (let i = 0; i < 40; i++) {
      world.loki.push(
        { service: SERVICE, environment: env },
        JSON.stringify({ level: 'error', msg: 'TypeError in /v1/chat' }),
        Date.now(),
      );
    }
    const next = await eventually('manual mitigation again', async () => {
      const s = await handle.query(stateQuery);
      return s.pendingApprovals.some((p) => p.step === 'manual-mitigation') &&
        s.steps.find((x) => x.id === 'validate-logs')?.status === 'failed'
        ? s
        : undefined;
    });
    assert.match(next.steps.find((x) => x.id === 'validate-logs')!.note!, /new error spike: 40 lines in 2s/);
    await handle.cancel();
  });
});
