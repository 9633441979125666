// Drills on the local Temporal server: each built runbook run against a synthetic incident, with
// every mitigation configured as a real command and every notification target pointed at a local
// Slack and PagerDuty. The drill must reach the scenario's diagnosis and mitigation while no
// command runs, no flag changes and nobody is told.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { findScenario } from '../../workflows/drills/scenarios';
import type { DrillInput, DrillReport } from '../../workflows/drill';
import { runDrill } from '../../client/drills';
import { createHarness, eventually, testDeps, type Harness } from '../support/harness';
import { SlackStandIn } from '../support/standins';
import { createTelemetryDatabase } from '../support/llm-app';
import { World } from '../support/scenario';

/** Starts a drill as the CLI and the schedules do, under a workflow id of the test's. */
function startDrill(h: Harness, input: DrillInput): { workflowId: string; report: Promise<DrillReport> } {
  const workflowId = `drill-run/${input.runbook}/${input.scenario}/${Date.now()}`;
  const report = h.client.workflow.execute('runbookDrill', { taskQueue: h.taskQueue, workflowId, args: [input] });
  return { workflowId, report };
}

/** An activity run as it runs for the workflow `workflowId`. */
const asWorkflow = <T>(workflowId: string, fn: () => Promise<T>): Promise<T> =>
  new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'r' } }).run(fn) as Promise<T>;

async function runningIds(h: Harness, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of h.client.workflow.list({ query: `${query} AND ExecutionStatus = 'Running'` }))
    ids.push(w.workflowId);
  return ids;
}

/**
 * A drill, passed or failed, leaves nothing running: not its runbook, not a follow-up reminder
 * (`followup/drill/...`), nor anything else its runbook started.
 */
async function assertNothingLeft(h: Harness, drillWorkflowId: string, report: DrillReport): Promise<void> {
  const runbook = await h.client.workflow.getHandle(report.incident).describe();
  assert.notEqual(runbook.status.name, 'RUNNING', `${report.incident} still running`);
  // The follow-up a runbook would start is named after its run: it must not exist at all.
  const followUp = `followup/${report.incident}/${runbook.runId}`;
  await assert.rejects(h.client.workflow.getHandle(followUp).describe(), /not found/i, `${followUp} was started`);
  // Visibility lags a little: wait until it shows the runbook closed, then nothing of the drill's may run.
  await eventually(`visibility shows ${report.incident} closed`, async () =>
    (await runningIds(h, `WorkflowId = '${report.incident}'`)).length === 0 ? true : undefined,
  );
  assert.deepEqual(await runningIds(h, `WorkflowId STARTS_WITH 'followup/drill/'`), []);
  assert.deepEqual(await runningIds(h, `RootWorkflowId = '${drillWorkflowId}'`), []);
}

describe('drills: nothing changed, nobody notified, the expected diagnosis reached', () => {
  const world = new World();
  const markers = ['rollback-deploy', 'restore-secret', 'migration-rollback', 'fallback-mode', 'reduce-auto-save'].map(
    (name) => ({ name, ...world.marker(name) }),
  );
  let telemetry: Awaited<ReturnType<typeof createTelemetryDatabase>>;
  let h: Harness;

  before(async () => {
    await Promise.all([world.slack.listen(), world.pagerduty.listen()]);
    telemetry = await createTelemetryDatabase();
    await telemetry.pool.query(
      "INSERT INTO feature_flags (feature, enabled, value) VALUES ('auto_save_interval_ms', true, '5000')",
    );
    h = await createHarness(
      'drill',
      {
        notifications: {
          oncall: { slackChannel: '#oncall', pagerduty: true },
          leadership: { slackChannel: '#eng-leadership' },
        },
        escalation: ['oncall'],
        // Every mitigation a drill may reach is a real command here: none may run.
        actions: Object.fromEntries(markers.map((m) => [m.name, { run: m.argv }])),
        // Deadlines short enough to page during the drill if a drill could page.
        runbooks: {
          'cost-spike': { params: { approvalDeadline: '1s' } },
          'api-error-budget': { params: { approvalDeadline: '1s' } },
        },
      },
      world.env(),
      { telemetryUrl: telemetry.url },
    );
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    await telemetry?.drop();
    await world.slack.close();
    await world.pagerduty.close();
    rmSync(world.dir, { recursive: true, force: true });
  });

  const drill = (input: DrillInput): Promise<DrillReport> => startDrill(h, input).report;
  const recorded = async (report: DrillReport) =>
    (await h.pool.query('SELECT passed, report FROM drill_runs WHERE report->>$1 = $2', ['incident', report.incident]))
      .rows;

  for (const input of [
    // Each: a change event, and the drill's own Prometheus showing the 5xx ratio rose after it.
    { runbook: 'api-error-budget', scenario: 'deployment-regression' },
    { runbook: 'api-error-budget', scenario: 'config-drift' },
    { runbook: 'api-error-budget', scenario: 'bad-migration' },
    { runbook: 'cost-spike', scenario: 'hidden-recompute' },
    // Failed four times a few minutes past the hour, and on weekends: it must pass whenever it runs.
    { runbook: 'cost-spike', scenario: 'tool-retry-storm' },
    { runbook: 'llm-provider-incident', scenario: 'overloaded' },
  ] as const) {
    test(`${input.runbook} · ${input.scenario}`, async () => {
      const expected = findScenario(input.runbook, input.scenario);
      assert.ok(expected);
      const started = startDrill(h, input);
      const report = await started.report;
      assert.equal(report.reached.diagnosis, expected.expect.diagnosis, JSON.stringify(report, null, 1));
      assert.ok(expected.expect.mitigation.includes(report.reached.mitigation ?? ''), JSON.stringify(report.reached));
      assert.equal(report.passed, true);
      assert.ok(report.incident.startsWith(`drill/${input.runbook}/${input.scenario}/`));
      // Per-step durations, from the incident's stored step records.
      const ran = report.steps.filter((s) => s.durationMs !== null);
      assert.ok(ran.length >= 3, JSON.stringify(report.steps));
      assert.ok(ran.every((s) => (s.durationMs as number) >= 0));
      assert.equal(report.steps.find((s) => s.id === report.reached.mitigation)?.status, 'skipped');
      assert.deepEqual(
        (await recorded(report)).map((r) => r.passed),
        [true],
      );

      // Nothing changed, nobody told.
      for (const m of markers) assert.equal(m.started(), 0, `${m.file} ran`);
      const runs = await h.pool.query(
        "SELECT count(*)::int AS n FROM mitigation_runs WHERE workflow_id LIKE 'drill/%'",
      );
      assert.equal(runs.rows[0].n, 0);
      const flags = await telemetry.pool.query('SELECT feature, value, updated_by FROM feature_flags');
      assert.deepEqual(flags.rows, [{ feature: 'auto_save_interval_ms', value: '5000', updated_by: null }]);
      assert.deepEqual(world.slack.messages, []);
      assert.deepEqual(world.pagerduty.events, []);
      if (input.runbook === 'cost-spike') {
        const database = report.setup.match(/ in (drill_\w+)$/)?.[1];
        assert.ok(database, report.setup);
        const left = await h.pool.query('SELECT datname FROM pg_database WHERE datname = $1', [database]);
        assert.deepEqual(left.rows, [], 'the scratch telemetry database is dropped');
      }
      if (input.runbook === 'api-error-budget') {
        // The evidence came from the drill's Prometheus: an elevated route and a change the errors rose after.
        const steps = await h.store.steps(report.incident);
        assert.match(steps.find((s) => s.id === 'dashboard-review')?.note ?? '', /elevated 5xx on \/v1\/chat 12\.00%/);
        assert.match(
          steps.find((s) => s.id === 'recent-changes')?.note ?? '',
          /^COUNTS: 5xx on \/v1\/chat rose from 0\.00% before to 12\.00% after/,
        );
        const url = report.setup.match(/Prometheus at (http:\/\/127\.0\.0\.1:\d+) /)?.[1];
        assert.ok(url, report.setup);
        await assert.rejects(fetch(`${url}/api/v1/query?query=up`), "the drill's Prometheus is closed");
      }
      await assertNothingLeft(h, started.workflowId, report);
    });
  }

  test('a Prometheus source that is not a drill endpoint this worker started is refused', async () => {
    const acts = createActivities(testDeps(h.config, h.pool, h.env));
    const scope = { service: 'api', environment: 'prod', source: 'http://127.0.0.1:1' };
    const refused = /source http:\/\/127\.0\.0\.1:1 refused: not a drill endpoint this worker started/;
    const now = Date.now();
    for (const r of [
      await acts.errorRatioByRoute(scope),
      await acts.errorRatio(scope),
      await acts.errorRatioSeries({ ...scope, startMs: now - 600_000, endMs: now, stepMs: 60_000 }),
      await acts.errorRatioOver({ ...scope, windowMs: 900_000 }),
      await acts.providerMetrics(scope),
      // Not even for a drill's runbook.
      await asWorkflow('drill/api-error-budget/deployment-regression/x', () => acts.errorRatioByRoute(scope)),
    ]) {
      assert.equal(r.available, false);
      assert.match(r.available ? '' : r.reason, refused);
    }
  });

  test("a drill's Prometheus is read by a drill's runbook only, and only while the drill runs", async () => {
    const acts = createActivities(testDeps(h.config, h.pool, h.env));
    const setup = { kind: 'change', change: 'deploy', description: 'source test' } as const;
    const prepared = await acts.prepareDrill({ drillId: 'sourcetest', setup });
    const scope = {
      service: prepared.service,
      environment: prepared.environment,
      source: prepared.context.prometheusUrl,
    };
    assert.ok(scope.source);
    const inDrill = () =>
      asWorkflow('drill/api-error-budget/deployment-regression/sourcetest', () => acts.errorRatioByRoute(scope));
    try {
      const read = await inDrill();
      assert.deepEqual(read.available && read.data, [
        { route: '/v1/chat', ratio: 0.12 },
        { route: '/v1/embeddings', ratio: 0 },
      ]);
      for (const r of [
        await asWorkflow('incident/api-error-budget/sourcetest', () => acts.errorRatioByRoute(scope)),
        await acts.errorRatioByRoute(scope),
      ]) {
        assert.equal(r.available, false);
        assert.match(r.available ? '' : r.reason, /refused: a drill endpoint is read only by a drill's runbook/);
      }
    } finally {
      await acts.finishDrill({ drillId: 'sourcetest', setup });
    }
    const closed = await inDrill();
    assert.equal(closed.available, false);
    assert.match(closed.available ? '' : closed.reason, /refused: not a drill endpoint this worker started/);
  });

  test('an unknown scenario is refused with the known ones named', async () => {
    await assert.rejects(drill({ runbook: 'cost-spike', scenario: 'nope' }), (err: Error) => {
      assert.match(
        String((err as { cause?: Error }).cause?.message ?? err.message),
        /no drill scenario "nope" for cost-spike; known: hidden-recompute, context-bloat/,
      );
      return true;
    });
  });
});

describe('a drill that no longer reaches its conclusion', () => {
  const slack = new SlackStandIn();
  let h: Harness;

  before(async () => {
    await slack.listen();
    // Drift: someone narrowed the change window below the 10 minutes the deploy lies back.
    h = await createHarness(
      'drill-drift',
      {
        notifications: { drills: { slackChannel: '#runbook-drills' } },
        drills: { notifyOnFailure: 'drills' },
        runbooks: {
          'api-error-budget': { params: { recentChangesWindow: '5m' } },
          // Drift: a threshold no spike reaches, so the runbook finds nothing and closes the incident.
          'cost-spike': { params: { spikeThreshold: 50 } },
        },
      },
      { SLACK_BOT_TOKEN: slack.token, SLACK_API_URL: `${slack.url}/api` },
    );
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    await slack.close();
  });

  test('fails, says what it reached instead, tells the configured target, and is recorded', async () => {
    const report = await runDrill(h.client, h.taskQueue, {
      runbook: 'api-error-budget',
      scenario: 'deployment-regression',
      notify: h.config.drills.notifyOnFailure,
    });
    assert.equal(report.passed, false);
    assert.deepEqual(report.reached, { diagnosis: 'unknown', mitigation: 'manual-mitigation' });
    assert.equal(report.diagnosisReached, false);
    assert.match(
      slack.messages.find((m) => m.channel === '#runbook-drills')?.text ?? '',
      /Drill api-error-budget · deployment-regression FAILED: diagnosis unknown \(expected deployment_regression\)/,
    );
    const rows = await h.pool.query('SELECT passed FROM drill_runs WHERE report->>$1 = $2', [
      'incident',
      report.incident,
    ]);
    assert.deepEqual(rows.rows, [{ passed: false }]);
  });

  test('a failed drill leaves nothing running: no follow-up, nothing its runbook started', async () => {
    const started = startDrill(h, { runbook: 'cost-spike', scenario: 'tool-retry-storm' });
    const report = await started.report;
    assert.equal(report.passed, false);
    assert.deepEqual(report.reached, { diagnosis: 'no spike', mitigation: null });
    const followUpStep = (await h.store.steps(report.incident)).find((s) => s.id === 'schedule-follow-up');
    assert.equal(followUpStep?.status, 'done');
    assert.equal(followUpStep?.note, 'drill: no follow-up scheduled');
    await assertNothingLeft(h, started.workflowId, report);
  });
});
