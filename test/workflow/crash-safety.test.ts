// Crash safety: the worker is a real process, killed with SIGKILL while a mitigation's command
// runs and again while the validation window is open. New workers finish the incident, and the
// mitigation's effect happened once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROJECT_ROOT } from '../../dev/temporal-binaries';
import { stateQuery, type IncidentState } from '../../workflows/definitions';
import { createHarness, eventually, recordHistory, requireEnv, type Harness } from '../support/harness';
import { createTelemetryDatabase, LlmApp } from '../support/llm-app';
import { SERVICE, World } from '../support/scenario';
import { needs, PROMETHEUS } from '../support/system';

class WorkerProcess {
  private child?: ChildProcess;
  output = '';

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  async start(): Promise<this> {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'worker/main.ts')], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => (this.output += b.toString());
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    await eventually(
      'the worker to poll',
      async () => (this.output.includes('worker polling') ? true : undefined),
      60_000,
    );
    return this;
  }

  kill(): Promise<void> {
    const exited = new Promise<void>((r) => this.child!.once('exit', () => r()));
    this.child!.kill('SIGKILL');
    return exited;
  }

  /** SIGTERM, and SIGKILL if the worker is still draining an activity 15 s later: cleanup never hangs. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('crash safety', { skip: needs(PROMETHEUS) }, () => {
  let world: World;
  let h: Harness;
  const workers: WorkerProcess[] = [];

  before(async () => {
    world = await new World().start();
  });

  after(async () => {
    for (const w of workers) await w.stop();
    await h?.close();
    await world?.stop();
  });

  test('SIGKILL during the rollback and during validation: finished by new workers, rollback ran once', async () => {
    // The rollback takes 3 s and leaves a line in a file when it is done.
    const rollback = world.marker(`crash-rollback-${randomUUID().slice(0, 6)}`, 3000);
    const config = world.config({ actions: { 'rollback-deploy': { run: rollback.argv } } });
    const configFile = path.join(world.dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(config));
    h = await createHarness('crash', config, world.env());
    const workerEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...world.env(),
      RUNBOOKS_CONFIG: configFile,
      RUNBOOKS_TASK_QUEUE: h.taskQueue,
      DATABASE_URL: requireEnv('DATABASE_URL'),
      TEMPORAL_ADDRESS: requireEnv('TEMPORAL_ADDRESS'),
    };
    const startWorker = async () => {
      const w = await new WorkerProcess(workerEnv).start();
      workers.push(w);
      return w;
    };

    const env = `crash-${randomUUID().slice(0, 6)}`;
    // A deploy the 5xx ratio rose after: the diagnosis is a deployment regression.
    await world.calm();
    await h.store.addChange({ service: SERVICE, environment: env, kind: 'deploy', at: new Date().toISOString() });
    await new Promise((r) => setTimeout(r, 1_500));
    await world.errors(0.1);
    let worker = await startWorker();
    const started = await h.incidents.start({
      runbook: 'api-error-budget',
      key: env,
      service: SERVICE,
      environment: env,
      source: 'manual',
      startedBy: 'test',
      params: { validationWindow: '12s', validationInterval: '2s' },
    });
    const handle = h.client.workflow.getHandle(started.workflowId);
    const state = () => handle.query(stateQuery);
    const until = (what: string, ok: (s: IncidentState) => boolean, timeoutMs = 60_000) =>
      eventually(what, async () => ((s) => (ok(s) ? s : undefined))(await state()), timeoutMs);

    await until('the rollback approval', (s) => s.pendingApprovals.some((p) => p.step === 'rollback-deploy'));
    await world.calm();
    await h.incidents.decide(handle.workflowId, { step: 'rollback-deploy', decision: 'approve', by: 'alice' });
    await eventually('the rollback command to start', async () => (rollback.started() === 1 ? true : undefined));
    await worker.kill();

    // The orphaned command still finishes: its effect happens, once.
    await eventually('the rollback command to finish', async () => (rollback.count() === 1 ? true : undefined), 10_000);
    worker = await startWorker();
    // The retry finds the intent without an outcome and asks a human instead of running it again.
    const asked = await until(
      'the outcome-unknown question',
      (s) => s.pendingApprovals.some((p) => p.step === 'rollback-deploy' && p.kind === 'manual'),
      60_000,
    );
    assert.match(asked.pendingApprovals.find((p) => p.step === 'rollback-deploy')?.detail ?? '', /outcome is unknown/);
    await h.incidents.decide(handle.workflowId, {
      step: 'rollback-deploy',
      decision: 'done',
      by: 'alice',
      comment: 'v2 is live',
    });

    await until(
      'the validation window',
      (s) =>
        s.status === 'validating' &&
        /check [12]\//.test(s.steps.find((x) => x.id === 'validate-error-ratio')?.note ?? ''),
    );
    await worker.kill();
    await new Promise((r) => setTimeout(r, 3000));
    worker = await startWorker();

    const result = (await handle.result()) as { status: string };
    assert.equal(result.status, 'resolved');
    assert.equal(rollback.count(), 1, 'the rollback ran exactly once across two crashes');
    const final = await state();
    const checks = final.steps.find((x) => x.id === 'validate-error-ratio');
    assert.equal(checks?.status, 'done');
    assert.match(checks?.note ?? '', /held over 12s/);
    const { rows } = await h.pool.query('SELECT phase, outcome FROM mitigation_runs WHERE workflow_id = $1', [
      handle.workflowId,
    ]);
    assert.deepEqual(
      rows,
      [{ phase: 'apply', outcome: null }],
      'the interrupted run stays recorded as outcome unknown',
    );
    await recordHistory(h.client, handle.workflowId, 'aeb-crash-during-rollback-and-validation');
  });
});

describe('crash safety of the cost cap', () => {
  const world = new World();
  const workers: WorkerProcess[] = [];
  let h: Harness | undefined;
  let db: Awaited<ReturnType<typeof createTelemetryDatabase>> | undefined;
  let app: LlmApp | undefined;

  after(async () => {
    app?.stop();
    for (const w of workers) await w.stop();
    await h?.close();
    await db?.drop();
    await world.slack.close();
  });

  test('SIGKILL while the cost-cap update waits on a lock: the flag changes once, after approval', async () => {
    await world.slack.listen();
    db = await createTelemetryDatabase();
    app = new LlmApp(db.pool);
    await app.generate('hidden_recompute', 100_000);
    await db.pool.query(`
      INSERT INTO feature_flags (feature, enabled) VALUES ('chat', true);
      CREATE TABLE flag_changes (feature text, enabled boolean, updated_by text);
      CREATE FUNCTION count_flag_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO flag_changes VALUES (NEW.feature, NEW.enabled, NEW.updated_by); RETURN NEW; END $$;
      CREATE TRIGGER flag_change AFTER UPDATE ON feature_flags FOR EACH ROW EXECUTE FUNCTION count_flag_change();`);
    const baseline = await app.baselinePerHour();
    // Only the cost cap (chat off) brings this app's cost down.
    app.live({ spikePerHour: baseline * 3, fixedPerHour: baseline * 3, mitigated: () => false, feature: 'chat' });

    const config = {
      notifications: { oncall: { slackChannel: '#oncall' }, leadership: { slackChannel: '#eng-leadership' } },
      escalation: ['oncall'],
      runbooks: {
        'cost-spike': {
          params: {
            validationWindow: '6s',
            validationInterval: '2s',
            failAfterBreaches: 2,
            costCapUsd: 0.0001,
            capFeature: 'chat',
            approvalDeadline: '1h',
            followUpAfter: '1h',
          },
        },
      },
    };
    const configFile = path.join(world.dir, 'cost-config.json');
    writeFileSync(configFile, JSON.stringify(config));
    h = await createHarness('crash-cost', config, world.env(), { telemetryUrl: db.url });
    const workerEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...world.env(),
      RUNBOOKS_CONFIG: configFile,
      RUNBOOKS_TASK_QUEUE: h.taskQueue,
      DATABASE_URL: requireEnv('DATABASE_URL'),
      TELEMETRY_DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: requireEnv('TEMPORAL_ADDRESS'),
    };
    const startWorker = async () => {
      const w = await new WorkerProcess(workerEnv).start();
      workers.push(w);
      return w;
    };
    const worker = await startWorker();
    const started = await h.incidents.start({
      runbook: 'cost-spike',
      service: SERVICE,
      environment: 'prod',
      source: 'manual',
      startedBy: 'test',
    });
    const handle = h.client.workflow.getHandle(started.workflowId);
    const until = (what: string, ok: (s: IncidentState) => boolean, timeoutMs = 60_000) =>
      eventually(what, async () => ((s) => (ok(s) ? s : undefined))(await handle.query(stateQuery)), timeoutMs);
    const pendingOn =
      (...steps: string[]) =>
      (s: IncidentState) =>
        s.pendingApprovals.some((p) => steps.includes(p.step));

    const first = await until('a hidden-recompute mitigation', pendingOn('reduce-auto-save', 'rate-limit-undo'));
    const step = first.pendingApprovals.find((p) => p.step !== 'campaign-check')!.step;
    await h.incidents.decide(handle.workflowId, { step, decision: 'approve', by: 'alice' });
    await until('the cost cap approval', pendingOn('enable-cost-cap'));
    const changes = async () => Number((await db!.pool.query('SELECT count(*) AS n FROM flag_changes')).rows[0].n);
    assert.equal(await changes(), 0, 'nothing changed before approval');

    // Someone holds the flag row: the approved update waits on the lock while the worker dies.
    const holder = await db.pool.connect();
    try {
      await holder.query("BEGIN; SELECT * FROM feature_flags WHERE feature = 'chat' FOR UPDATE");
      await h.incidents.decide(handle.workflowId, { step: 'enable-cost-cap', decision: 'approve', by: 'alice' });
      await eventually('the cost-cap update to wait on the lock', async () => {
        const { rowCount } = await db!.pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE feature_flags%'",
        );
        return rowCount ? true : undefined;
      });
      await worker.kill();
    } finally {
      // Released whatever happened: a lock left held would block every cleanup after it.
      await holder.query('COMMIT');
      holder.release();
    }
    // The dead worker's statement still lands once the lock is free.
    await eventually('the orphaned update to land', async () => ((await changes()) === 1 ? true : undefined), 10_000);

    await startWorker();
    // With chat off no events arrive: the window has nothing to judge, and a responder confirms it.
    await until('the question on the window without events', pendingOn('validate-cost'));
    await h.incidents.decide(handle.workflowId, { step: 'validate-cost', decision: 'confirm', by: 'alice' });
    const result = (await handle.result()) as { status: string };
    assert.equal(result.status, 'resolved');
    assert.equal(await changes(), 1, 'the cost cap changed the flag exactly once');
    const { rows } = await db.pool.query('SELECT enabled, updated_by FROM flag_changes');
    assert.equal(rows[0].enabled, false);
    assert.match(rows[0].updated_by, /^alice via .* enable-cost-cap\/apply$/);
    const final = await handle.query(stateQuery);
    assert.equal(final.mitigations.find((m) => m.step === 'enable-cost-cap')?.status, 'applied');
    const events = await h.pool.query(
      "SELECT message FROM incident_events WHERE workflow_id = $1 AND kind = 'mitigation_applied' AND step = 'enable-cost-cap'",
      [handle.workflowId],
    );
    assert.match(events.rows[0]?.message ?? '', /took effect before the worker stopped/);
    await recordHistory(h.client, handle.workflowId, 'cost-spike-v3-crash-during-cost-cap');
  });
});
