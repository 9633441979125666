// Mitigations touch production exactly as approved: once per incident run (the same alert group
// firing again is a new run whose approved action runs again), with the incident's own service and
// environment filled in, one question when nothing is configured, and flag changes undone by putting
// back the row that was there, never over a change someone made meanwhile. On real Postgres, the
// local Temporal server, and the app's flags table as the seed has it, behind a role without DDL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { createActionActivities, type ActionOutcome, type ActionRequest } from '../../activities/actions';
import { parseDocument } from '../../catalogue/document';
import { ConfigError, parseConfig } from '../../config/load';
import { PROJECT_ROOT } from '../../dev/temporal-binaries';
import {
  incidentSearchAttributes,
  incidentWorkflowId,
  stateQuery,
  type IncidentState,
  type RunbookResult,
} from '../../workflows/definitions';
import { createHarness, eventually, recordHistory, requireEnv, testDeps, type Harness } from '../support/harness';
import { createTelemetryDatabase } from '../support/llm-app';
import { documentWith } from '../support/documents';
import { World } from '../support/scenario';
import { secret } from '../support/secrets';

describe('mitigations through the guided runbook', () => {
  const world = new World();
  let h: Harness;
  // A command that appends its arguments to a file: how often it ran, and with what.
  const log = `${world.dir}/rollback-${randomUUID().slice(0, 6)}.log`;
  const runs = () => {
    try {
      return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  before(async () => {
    h = await createHarness('ledger', {
      actions: {
        'roll-back': {
          run: [
            process.execPath,
            '-e',
            "require('fs').appendFileSync(process.argv[1], process.argv.slice(2).join(' ') + '\\n')",
            log,
            '{service}',
            '{environment}',
          ],
        },
      },
      runbooks: { 'service-down': { params: { stepDeadline: '1h', followUpAfter: '1h' } } },
    });
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    rmSync(world.dir, { recursive: true, force: true });
  });

  /** Runs a document of the test's own as the worker's service-down document. */
  async function startDocument(markdown: string, key: string) {
    const input = h.incidents.buildInput(
      { runbook: 'service-down', service: 'checkout', environment: 'staging', source: 'manual', startedBy: 'test' },
      key,
    );
    h.documents.set('service-down', parseDocument(markdown, 'test.md'));
    return h.client.workflow.start('guidedRunbook', {
      taskQueue: h.taskQueue,
      workflowId: incidentWorkflowId('service-down', key),
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes(incidentSearchAttributes(input)),
    }) as Promise<WorkflowHandle<(i: unknown) => Promise<RunbookResult>>>;
  }

  const pendingOn = async (handle: WorkflowHandle, step: string) =>
    eventually(`a question on ${step}`, async () => {
      const s: IncidentState = await handle.query(stateQuery);
      return s.pendingApprovals.find((p) => p.step === step);
    });

  /** Approves (or answers) each question, in order, until the runbook waits at its close; then closes it. */
  async function walk(handle: WorkflowHandle, answers: Record<string, 'approve' | 'done'>) {
    for (const [step, decision] of Object.entries(answers)) {
      await pendingOn(handle, step);
      await h.incidents.decide(handle.workflowId, { step, decision, by: 'alice' });
    }
    await pendingOn(handle, 'close-incident');
    await h.incidents.decide(handle.workflowId, {
      step: 'close-incident',
      decision: 'done',
      by: 'alice',
      comment: 'rolled back',
    });
    await handle.result();
  }

  test('the same incident firing again after it closed: its approved rollback runs again, on its own service', async () => {
    const doc = documentWith(
      '## Immediate Actions\n\n1. Act\n   ```action\n   roll-back\n   ```\n\n## Investigation Steps\n\n## Resolution Steps\n',
    );
    const key = `again-${randomUUID().slice(0, 6)}`;
    const first = await startDocument(doc, key);
    const asked = await pendingOn(first, 'roll-back');
    assert.match(asked.detail ?? '', /Will run: .* checkout staging$/m, 'the prompt shows what will run, filled in');
    await walk(first, { 'roll-back': 'approve' });
    assert.deepEqual(runs(), ['checkout staging']);

    const second = await startDocument(doc, key);
    assert.equal(second.workflowId, first.workflowId, 'the same alert group, the same workflow id');
    await walk(second, { 'roll-back': 'approve' });
    assert.deepEqual(runs(), ['checkout staging', 'checkout staging'], 'two approvals, two runs');
    const { rows } = await h.pool.query(
      "SELECT run_id, outcome FROM mitigation_runs WHERE workflow_id = $1 AND phase = 'apply' ORDER BY intent_at",
      [first.workflowId],
    );
    assert.deepEqual(
      rows.map((r) => r.outcome),
      ['succeeded', 'succeeded'],
    );
    assert.notEqual(rows[0].run_id, rows[1].run_id, 'one ledger row per run');
    await recordHistory(h.client, second.workflowId, 'guided-v2-recurring-rollback');
  });

  test('a step with nothing configured asks once: do it by hand, and records who did', async () => {
    const doc = documentWith(
      '## Immediate Actions\n\n1. Act\n   ```action\n   fail-over-db\n   ```\n\n## Investigation Steps\n\n## Resolution Steps\n',
    );
    const handle = await startDocument(doc, `hand-${randomUUID().slice(0, 6)}`);
    const asked = await pendingOn(handle, 'fail-over-db');
    assert.equal(asked.kind, 'manual', 'no approval first: there is nothing for the tool to run');
    assert.match(asked.detail ?? '', /Do this by hand \(no action is configured for this step\)/);
    await h.incidents.decide(handle.workflowId, {
      step: 'fail-over-db',
      decision: 'done',
      by: 'bob',
      comment: 'promoted the replica',
    });
    await pendingOn(handle, 'close-incident');
    const s = await handle.query(stateQuery);
    const step = s.steps.find((x) => x.id === 'fail-over-db');
    assert.equal(step?.status, 'done');
    assert.equal(step?.note, 'done by hand by bob: promoted the replica');
    assert.deepEqual(
      step?.decisions?.map((d) => [d.decision, d.by]),
      [['done', 'bob']],
      'one question, one answer',
    );
    assert.equal(s.mitigations.find((m) => m.step === 'fail-over-db')?.status, 'applied');
    const { rowCount } = await h.pool.query('SELECT 1 FROM mitigation_runs WHERE workflow_id = $1', [
      handle.workflowId,
    ]);
    assert.equal(rowCount, 0, 'nothing ran');
    await recordHistory(h.client, handle.workflowId, 'guided-v2-done-by-hand');
    await handle.terminate();
  });

  test('a placeholder nothing can fill is refused when the config loads, by name', () => {
    assert.throws(
      () => parseConfig({ actions: { 'roll-back': { run: ['deploy', 'rollback', '{servce}'] } } }),
      (err: Error) =>
        err instanceof ConfigError && /actions\.roll-back: unknown placeholder \{servce\}/.test(err.message),
    );
    assert.throws(
      () =>
        parseConfig({
          actions: { x: { flag: { feature: 'f', enabled: true }, undoFlag: { feature: 'f', enabled: false } } },
        }),
      /undoFlag is no longer used/,
    );
  });
});

describe('flag changes on the app database as the seed has it', () => {
  let db: Awaited<ReturnType<typeof createTelemetryDatabase>>;
  let store: Pool;
  let app: Pool;
  const role = `flags_${randomUUID().slice(0, 6)}`;
  const password = secret('app database role password');
  const env = new MockActivityEnvironment();
  const runId = randomUUID();
  let seq = 0;

  before(async () => {
    db = await createTelemetryDatabase(false);
    store = new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 2 });
    // Only the seed's columns, and a role that may read events and write flags but run no DDL.
    await db.pool.query(`
      CREATE TABLE inference_events (created_at timestamptz NOT NULL, user_id text, feature text, trigger_type text,
        input_tokens integer, output_tokens integer, cost_usd numeric);
      CREATE TABLE feature_flags (feature text PRIMARY KEY, enabled boolean NOT NULL);
      CREATE ROLE ${role} LOGIN PASSWORD '${password}';
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;
      GRANT SELECT ON inference_events TO ${role};
      GRANT SELECT, INSERT, UPDATE, DELETE ON feature_flags TO ${role};
      INSERT INTO feature_flags VALUES ('chat', true), ('kill_switch', true);`);
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    app = new Pool({ connectionString: url.toString(), max: 2 });
    // Dropping the database at the end ends its sessions: an idle client's notice is not a failure.
    app.on('error', () => undefined);
    await assert.rejects(app.query('CREATE TABLE nope (x int)'), /permission denied/, 'the role has no DDL rights');
  });

  after(async () => {
    await app?.end();
    await store?.end();
    await db?.drop();
    await new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 1 })
      .query(`DROP ROLE IF EXISTS ${role}`)
      .catch(() => undefined);
  });

  function runAction(
    actions: Record<string, unknown>,
    req: Omit<ActionRequest, 'runId' | 'by'> & { runId?: string },
    workerEnv: NodeJS.ProcessEnv = {},
  ) {
    const config = parseConfig({ actions });
    const { runAction } = createActionActivities(
      testDeps(config, store, { PATH: process.env.PATH, ...workerEnv }, app),
    );
    return env.run(runAction, { runId, by: 'alice', ...req }) as Promise<ActionOutcome>;
  }

  const flag = async (feature: string) =>
    (await db.pool.query('SELECT enabled FROM feature_flags WHERE feature = $1', [feature])).rows[0] as
      { enabled: boolean } | undefined;

  test('a flag set before the incident is put back exactly; one absent before is removed again', async () => {
    const workflowId = `incident/test/flags-${++seq}`;
    const actions = {
      'disable-chat': { flag: { feature: 'chat', enabled: false } },
      'new-switch': { flag: { feature: 'queue_bulk', enabled: true } },
    };
    assert.equal((await runAction(actions, { workflowId, step: 'disable-chat', phase: 'apply' })).status, 'succeeded');
    assert.equal((await runAction(actions, { workflowId, step: 'new-switch', phase: 'apply' })).status, 'succeeded');
    assert.deepEqual(await flag('chat'), { enabled: false });
    assert.deepEqual(await flag('queue_bulk'), { enabled: true });
    const undo = await runAction(actions, { workflowId, step: 'disable-chat', phase: 'undo' });
    assert.equal(undo.status, 'succeeded', undo.summary);
    assert.deepEqual(await flag('chat'), { enabled: true }, 'back to what the operator had');
    await runAction(actions, { workflowId, step: 'new-switch', phase: 'undo' });
    assert.equal(await flag('queue_bulk'), undefined, 'absent before, absent after');
  });

  test('undo refuses to overwrite a flag someone changed meanwhile', async () => {
    const workflowId = `incident/test/flags-${++seq}`;
    const actions = { 'disable-kill-switch': { flag: { feature: 'kill_switch', enabled: false } } };
    await runAction(actions, { workflowId, step: 'disable-kill-switch', phase: 'apply' });
    assert.deepEqual(await flag('kill_switch'), { enabled: false });
    // An operator removes the switch meanwhile: theirs to decide, not the runbook's.
    await db.pool.query("DELETE FROM feature_flags WHERE feature = 'kill_switch'");
    const undo = await runAction(actions, { workflowId, step: 'disable-kill-switch', phase: 'undo' });
    assert.equal(undo.status, 'conflict');
    assert.match(
      undo.summary,
      /kill_switch was changed since the mitigation \(now no row; set enabled=false by the mitigation, enabled=true before the incident\): left as it is/,
    );
    assert.equal(await flag('kill_switch'), undefined, "the operator's change stays");
    const { rows } = await store.query(
      "SELECT outcome FROM mitigation_runs WHERE workflow_id = $1 AND phase = 'undo'",
      [workflowId],
    );
    assert.equal(rows[0].outcome, 'conflict');
  });

  test('a value with no value column is a change for a human, not a silent half-change', async () => {
    const workflowId = `incident/test/flags-${++seq}`;
    const actions = { 'cap-context': { flag: { feature: 'max_context_messages', enabled: true, value: '10' } } };
    const out = await runAction(actions, { workflowId, step: 'cap-context', phase: 'apply' });
    assert.equal(out.status, 'not_configured');
    assert.match(out.summary, /feature_flags has no column "value" for the value 10 of max_context_messages/);
    assert.equal(await flag('max_context_messages'), undefined);
  });

  test("a command's output keeps no value of the secrets it was given", async () => {
    const token = secret("DEPLOY_TOKEN (an action's env)");
    const actions = {
      deploy: {
        run: [process.execPath, '-e', "console.log('using ' + process.env.DEPLOY_TOKEN); process.exit(3)"],
        env: ['DEPLOY_TOKEN'],
      },
    };
    const workflowId = `incident/test/flags-${++seq}`;
    const out = await runAction(actions, { workflowId, step: 'deploy', phase: 'apply' }, { DEPLOY_TOKEN: token });
    assert.equal(out.status, 'failed');
    assert.match(out.output ?? '', /using \[DEPLOY_TOKEN\]/);
    assert.ok(!JSON.stringify(out).includes(token), 'the token is not in the outcome');
    const { rows } = await store.query('SELECT output FROM mitigation_runs WHERE workflow_id = $1', [workflowId]);
    assert.ok(!rows[0].output.includes(token), 'nor in the ledger');
  });

  test('the admin key goes only to the admin URL, never to ANTHROPIC_BASE_URL', async () => {
    const seen: string[] = [];
    const proxy = http.createServer((req, res) => {
      seen.push(String(req.headers['x-api-key'] ?? ''));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const actions = { 'revoke-key': { providerKey: { keyId: 'key_1', status: 'inactive' } } };
      const adminKey = secret('ANTHROPIC_ADMIN_KEY', 'sk-ant-admin01-');
      const workerEnv = { ANTHROPIC_BASE_URL: url, ANTHROPIC_ADMIN_KEY: adminKey };
      await runAction(
        actions,
        { workflowId: `incident/test/flags-${++seq}`, step: 'revoke-key', phase: 'apply' },
        workerEnv,
      );
      assert.deepEqual(seen, [], 'nothing reached the base URL');
      const revoked = await runAction(
        actions,
        { workflowId: `incident/test/flags-${++seq}`, step: 'revoke-key', phase: 'apply' },
        { ...workerEnv, ANTHROPIC_ADMIN_URL: url },
      );
      assert.equal(revoked.status, 'succeeded', revoked.summary);
      assert.deepEqual(seen, [adminKey], 'the admin URL was told');
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  test('the same workflow id in a new run runs again; a retry inside a run does not', async () => {
    const actions = { 'disable-chat': { flag: { feature: 'chat', enabled: false } } };
    const workflowId = `incident/test/flags-${++seq}`;
    await db.pool.query("UPDATE feature_flags SET enabled = true WHERE feature = 'chat'");
    const first = await runAction(actions, { workflowId, step: 'disable-chat', phase: 'apply' });
    const retry = await runAction(actions, { workflowId, step: 'disable-chat', phase: 'apply' });
    assert.equal(first.status, 'succeeded');
    assert.match(retry.summary, /already ran: succeeded/);
    await db.pool.query("UPDATE feature_flags SET enabled = true WHERE feature = 'chat'");
    const next = await runAction(actions, { workflowId, runId: randomUUID(), step: 'disable-chat', phase: 'apply' });
    assert.equal(next.status, 'succeeded', next.summary);
    assert.doesNotMatch(next.summary, /already ran/);
    assert.deepEqual(await flag('chat'), { enabled: false });
  });
});

describe('store migration 004 on a store with rows', () => {
  test('existing ledger rows and follow-ups move to the run that was open when they were written', async () => {
    const db = await createTelemetryDatabase(false);
    try {
      const dir = path.join(PROJECT_ROOT, 'activities/db/migrations/store');
      const file = (name: string) => readFileSync(path.join(dir, name), 'utf8');
      for (const name of ['001_incident_store.sql', '002_steps_and_maintenance.sql', '003_step_decisions.sql'])
        await db.pool.query(file(name));
      await db.pool.query(`
        INSERT INTO incidents (workflow_id, run_id, runbook, status, severity, service, environment, started_at)
        VALUES ('incident/x/k', 'run-1', 'api-error-budget', 'resolved', 'P2', 'api', 'prod', now() - interval '2 days'),
               ('incident/x/k', 'run-2', 'api-error-budget', 'resolved', 'P2', 'api', 'prod', now() - interval '1 day');
        INSERT INTO mitigation_runs (workflow_id, step, phase, approved_by, action, intent_at, outcome)
        VALUES ('incident/x/k', 'rollback-deploy', 'apply', 'alice', '{}', now() - interval '36 hours', 'succeeded'),
               ('incident/y/k', 'rollback-deploy', 'apply', 'bob', '{}', now(), 'failed');
        INSERT INTO follow_ups (workflow_id, runbook, task, due_at)
        VALUES ('incident/x/k', 'api-error-budget', 'add a test', now() + interval '5 days');`);
      await db.pool.query(file('004_run_keyed_mitigations.sql'));
      const ledger = await db.pool.query('SELECT workflow_id, run_id FROM mitigation_runs ORDER BY workflow_id');
      assert.deepEqual(ledger.rows, [
        { workflow_id: 'incident/x/k', run_id: 'run-1' },
        { workflow_id: 'incident/y/k', run_id: '' },
      ]);
      const followUps = await db.pool.query('SELECT run_id FROM follow_ups');
      assert.deepEqual(followUps.rows, [{ run_id: 'run-2' }]);
      // The run is part of the key now: the same step in the next run is a row of its own.
      await db.pool.query(
        "INSERT INTO mitigation_runs (workflow_id, run_id, step, phase, approved_by, action) VALUES ('incident/x/k', 'run-2', 'rollback-deploy', 'apply', 'alice', '{}')",
      );
    } finally {
      await db.drop();
    }
  });
});
