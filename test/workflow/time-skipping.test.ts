// The API Error Budget runbook with the document's real durations — a 15-minute validation window
// checked every minute, a follow-up seven days later — on the time-skipping test server, so they
// pass in seconds. (Approval deadlines are tested on the dev server: while the test server skips
// freely it also expires running activities' timeouts, which makes a waiting runbook flaky here.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { parseConfig } from '../../config/load';
import { IncidentStore } from '../../activities/db/incident-store';
import { Incidents } from '../../client/incidents';
import { testServerExecutable } from '../../dev/temporal-binaries';
import { stateQuery, type IncidentState } from '../../workflows/definitions';
import { ensureSearchAttributes } from '../../client/search-attributes';
import { eventually, requireEnv, startTestServerWorker } from '../support/harness';
import { SERVICE, World } from '../support/scenario';
import { needs, PROMETHEUS } from '../support/system';

describe('document defaults on the time-skipping server', { skip: needs(PROMETHEUS) }, () => {
  let world: World;
  let pool: Pool;
  let store: IncidentStore;
  // One test server per test: a finished test can leave the server's clock held for the next.
  let env: TestWorkflowEnvironment;
  let incidents: Incidents;
  let stopWorker: () => Promise<void>;

  before(async () => {
    world = await new World().start();
    pool = new Pool({ connectionString: requireEnv('DATABASE_URL') });
    store = IncidentStore.create(pool);
  });

  beforeEach(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: await testServerExecutable() } });
    // The test server takes no search attributes at start: the worker's own registration adds them.
    await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
    // The document's own values: no runbook parameter overrides at all.
    const config = parseConfig({ ...world.config(), runbooks: {} }, 'test config', world.env());
    const worker = await startTestServerWorker(env, config, pool, { PATH: process.env.PATH, ...world.env() });
    stopWorker = worker.stop;
    incidents = worker.incidents;
  });

  afterEach(async () => {
    await stopWorker?.();
    await env?.teardown();
  });

  after(async () => {
    await world?.stop();
    await pool?.end();
  });

  async function open(environment: string) {
    // The server's clock runs ahead of the wall clock once time has been skipped.
    const now = new Date(await env.currentTimeMs()).toISOString();
    await store.addChange({ service: SERVICE, environment, kind: 'deploy', version: 'v7', at: now });
    const started = await incidents.start({
      runbook: 'api-error-budget',
      key: environment,
      service: SERVICE,
      environment,
      source: 'manual',
      startedBy: 'test',
    });
    return env.client.workflow.getHandle(started.workflowId);
  }

  async function pending(handle: { query: (q: typeof stateQuery) => Promise<IncidentState> }, step: string) {
    return eventually(`the approval of ${step}`, async () => {
      const s = await handle.query(stateQuery);
      return s.pendingApprovals.some((p) => p.step === step) ? s : undefined;
    });
  }

  test('the 15-minute window is held at one check a minute, then the 7-day follow-up reminds #oncall', async () => {
    // Skipped time runs the window's checks within wall-clock seconds: Prometheus must have traffic first.
    await world.calm();
    const environment = `ts-${randomUUID().slice(0, 6)}`;
    const handle = await open(environment);
    // A deploy and no errors: nothing to diagnose, so responders mitigate by hand.
    const s = await pending(handle, 'manual-mitigation');
    assert.equal(s.diagnosis?.primary, 'insufficient_data');
    assert.equal(s.params.validationWindow, '15m');
    assert.equal(s.params.validationThreshold, 0.002);
    assert.equal(s.params.followUpAfter, '7d');
    // An update holds the clock: send it, then let time run (sdk-typescript #1549).
    await incidents.decide(handle.workflowId, { step: 'manual-mitigation', decision: 'done', by: 'alice' });
    const started = Date.now();
    const result = (await handle.result()) as { status: string };
    assert.equal(result.status, 'resolved');
    const final = await handle.query(stateQuery);
    assert.match(final.steps.find((x) => x.id === 'validate-error-ratio')!.note!, /held over 15m/);
    const checks = (await handle.fetchHistory()).events!.filter(
      (e) =>
        e.timerStartedEventAttributes &&
        /check \d+\/15 of the 15m window/.test(
          e.userMetadata?.summary?.data ? Buffer.from(e.userMetadata.summary.data).toString() : '',
        ),
    );
    assert.equal(checks.length, 15, 'one timer a minute for the whole window');

    const { runId } = await handle.describe();
    const followUp = env.client.workflow.getHandle(`followup/${handle.workflowId}/${runId}`);
    const tasks = (await followUp.result()) as string[];
    assert.ok(tasks.some((t) => t.startsWith('Add regression/unit tests')));
    const describe = await followUp.describe();
    const waitedDays = (describe.closeTime!.getTime() - describe.startTime.getTime()) / 86_400_000;
    assert.ok(waitedDays >= 7 && waitedDays < 7.01, `the follow-up waited ${waitedDays} days`);
    assert.ok(Date.now() - started < 60_000, 'seven days passed in seconds');
    assert.ok(world.slack.in('#oncall').some((t) => t.startsWith('Follow-up due') && t.includes(handle.workflowId)));
    const { rows } = await pool.query('SELECT task, reminded_at FROM follow_ups WHERE workflow_id = $1', [
      handle.workflowId,
    ]);
    assert.ok(rows.length >= 1 && rows.every((r) => r.reminded_at !== null));
  });
});
