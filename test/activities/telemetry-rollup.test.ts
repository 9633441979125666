// The cost-spike runbook against the LLM app's own database as it is: only the seed's tables and
// columns, reached through a role that may SELECT the events and write feature_flags and may not
// change the schema. The diagnostics answer through the seed's SQL on the app database until the
// rollup workflow has caught up, then from the rollups in the project's own store, with the same
// numbers; late rows are counted, by the lateness window and, where the table has one, by `id`.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'pg';
import { createActivities, type Activities } from '../../activities';
import type { Observed } from '../../activities/http';
import { DIAGNOSTICS, runSeedDiagnostic, type DiagnosticName } from '../../activities/telemetry';
import { ensureTelemetryRollupSchedule } from '../../client/telemetry-rollup-schedule';
import { stateQuery, type RunbookResult } from '../../workflows/definitions';
import type { TelemetryRollupOutcome } from '../../workflows/telemetry-rollup';
import { createHarness, eventually, testDeps, type Harness } from '../support/harness';
import { createSeedApp, type SeedApp } from '../support/seed-app';
import { diffDiagnostic } from '../support/telemetry-compare';

const HOUR = 3_600_000;

/** The activity behind each diagnostic, as the runbook calls it. */
const ACTIVITY: Record<DiagnosticName, keyof Activities> = {
  hourlyCost: 'costByHour',
  traffic: 'costTraffic',
  triggers: 'costTriggers',
  hiddenRatio: 'costHiddenRatio',
  tokens: 'costTokens',
  features: 'costFeatures',
  toolFailures: 'costToolFailures',
};

type Rows = Record<string, unknown>[];
type DiagnosticActivity = (input: { nowMs: number }) => Promise<Observed<Rows>>;

/** Every diagnostic through its activity, checked equal to the seed's SQL run by the app's owner. */
async function diagnose(
  acts: Activities,
  owner: Pool,
  nowMs: number,
  path: RegExp,
): Promise<Map<DiagnosticName, Rows>> {
  const out = new Map<DiagnosticName, Rows>();
  for (const name of DIAGNOSTICS) {
    const run = acts[ACTIVITY[name]] as unknown as DiagnosticActivity;
    const o = await run({ nowMs });
    assert.ok(o.available, `${name}: ${o.available ? '' : o.reason}`);
    assert.match(o.query ?? '', path, `${name} answered by ${o.query}`);
    const seed = (await runSeedDiagnostic(owner, name, new Date(nowMs))) as unknown as Rows;
    assert.ok(seed.length > 0, `${name}: the seed's SQL returned no rows`);
    const diff = diffDiagnostic(name, o.data, seed);
    assert.equal(diff, null, diff ?? '');
    out.set(name, o.data);
  }
  return out;
}

const SEED_PATH = /the seed's SQL on the app database/;
const ROLLUP_PATH = /rollups in the store/;

async function relations(owner: Pool): Promise<string[]> {
  const { rows } = await owner.query<{ r: string }>(
    `SELECT c.relkind::text || ' ' || n.nspname || '.' || c.relname AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`,
  );
  const triggers = await owner.query<{ r: string }>(
    "SELECT 'trigger ' || tgname AS r FROM pg_trigger WHERE NOT tgisinternal",
  );
  return [...rows, ...triggers.rows].map((r) => r.r);
}

async function hourCount(h: Harness, source: string, at: Date): Promise<number | undefined> {
  const { rows } = await h.pool.query<{ requests: string }>(
    `SELECT r.requests FROM cost_rollup_hours r JOIN cost_rollup_sources s ON s.id = r.source_id
     WHERE s.source = $1 AND r.hour = date_trunc('hour', $2::timestamptz, 'UTC')`,
    [source, at],
  );
  return rows[0] ? Number(rows[0].requests) : undefined;
}

describe('cost-spike on the app database as it is (seed columns, read-only role)', () => {
  let app: SeedApp;
  let reader: Pool;
  let h: Harness;
  let acts: Activities;
  let now: Date;
  let schema: string[];
  let fallback: Map<DiagnosticName, Rows>;
  let source: string;

  before(async () => {
    app = await createSeedApp();
    now = new Date();
    now.setUTCMilliseconds(0);
    await app.generate('tool_retry_storm', 40_000, now);
    schema = await relations(app.owner);
    h = await createHarness(
      'rollup',
      { runbooks: { 'cost-spike': { params: { approvalDeadline: '1h', followUpAfter: '1h' } } } },
      {},
      { telemetryUrl: app.readerUrl },
    );
    await h.startWorker();
    reader = new Pool({ connectionString: app.readerUrl, max: 4 });
    reader.on('error', () => undefined);
    acts = createActivities(testDeps(h.config, h.pool, h.env, reader));
  });

  after(async () => {
    if (source)
      await h?.pool.query('DELETE FROM cost_rollup_sources WHERE source = $1', [source]).catch(() => undefined);
    await reader?.end();
    await h?.close();
    await app?.drop();
  });

  test('the role may not change the app database', async () => {
    await assert.rejects(reader.query('CREATE TABLE runbook_probe (a int)'), /permission denied/);
    await assert.rejects(reader.query('CREATE TEMP TABLE runbook_probe (a int)'), /permission denied/);
    await assert.rejects(reader.query("INSERT INTO inference_events (user_id) VALUES ('x')"), /permission denied/);
  });

  test('before any rollup pass every diagnostic answers through the seed SQL on the app database', async () => {
    fallback = await diagnose(acts, app.owner, now.getTime(), SEED_PATH);
    const history = await acts.costHistory({ nowMs: now.getTime(), days: 9 });
    assert.ok(history.available, history.available ? '' : history.reason);
    assert.ok(history.data.length > 200, `${history.data.length} hours of history`);
  });

  test('evidence the seed columns do not hold is unavailable, with the reason, never zero', async () => {
    const span = { fromMs: now.getTime() - 8 * HOUR, toMs: now.getTime() };
    const sources = await acts.costTrafficSources(span);
    assert.equal(sources.available, false);
    assert.match(sources.available ? '' : sources.reason, /column user_agent not in the app's inference_events/);
    const models = await acts.costModelUsage(span);
    assert.equal(models.available, false);
    assert.match(models.available ? '' : models.reason, /column model not in the app's inference_events/);
    // feature_flags with the seed's two columns: read, the rest reported missing rather than made up.
    await app.owner.query("INSERT INTO feature_flags (feature, enabled) VALUES ('max_tool_retries', true)");
    const flags = await acts.featureFlags({ features: ['max_tool_retries'] });
    assert.ok(flags.available, flags.available ? '' : flags.reason);
    assert.deepEqual(
      flags.data.map((f) => [f.feature, f.enabled, f.value]),
      [['max_tool_retries', true, null]],
    );
    await app.owner.query('DELETE FROM feature_flags');
  });

  test('the rollup workflow catches up; the diagnostics then answer from the store with the same numbers', async () => {
    const outcome = await h.client.workflow.execute('telemetryRollup', {
      taskQueue: h.taskQueue,
      workflowId: `telemetry-rollup-test-${randomUUID().slice(0, 8)}`,
      args: [{ lateness: '2h', retention: '10d' }],
    });
    const result = outcome as TelemetryRollupOutcome;
    assert.equal(result.caughtUp, true, JSON.stringify(result));
    assert.ok(result.passes >= 2, `a 10-day backfill in day-sized passes: ${result.passes}`);
    source = result.source;
    const fromRollups = await diagnose(acts, app.owner, now.getTime(), ROLLUP_PATH);
    for (const name of DIAGNOSTICS) {
      const diff = diffDiagnostic(name, fromRollups.get(name)!, fallback.get(name)!);
      assert.equal(diff, null, `rollups vs the earlier seed-SQL answer: ${diff}`);
    }
    // Nothing was created in the app database: no table, index, trigger or function of ours.
    assert.deepEqual(await relations(app.owner), schema);
    const history = await acts.costHistory({ nowMs: now.getTime(), days: 9 });
    assert.ok(history.available && history.query?.match(ROLLUP_PATH), history.query);
  });

  test('the cost-spike runbook diagnoses the read-only app database', async () => {
    const started = await h.incidents.start({
      runbook: 'cost-spike',
      key: randomUUID().slice(0, 8),
      service: 'api',
      environment: 'prod',
      severity: 'warning',
      source: 'manual',
      startedBy: 'test',
      params: { asOf: now.toISOString() },
    });
    const handle = h.client.workflow.getHandle<(i: unknown) => Promise<RunbookResult>>(started.workflowId);
    const s = await eventually(
      'the diagnosis',
      async () => {
        const state = await handle.query(stateQuery);
        return state.diagnosis ? state : undefined;
      },
      60_000,
    );
    assert.equal(s.diagnosis?.primary, 'tool_retry_storm', JSON.stringify(s.diagnosis));
    for (const step of [
      'confirm-spike',
      'rule-out-traffic',
      'hidden-recompute',
      'token-usage',
      'feature-attribution',
      'tool-failures',
    ])
      assert.equal(
        s.steps.find((x) => x.id === step)?.status,
        'done',
        `${step}: ${s.steps.find((x) => x.id === step)?.note}`,
      );
    const traffic = s.findings.find((f) => f.step === 'rule-out-traffic');
    assert.match(JSON.stringify(traffic?.evidence), /column user_agent not in the app's inference_events/);
    await handle.cancel();
    await handle.result().catch(() => undefined);
  });

  test('late rows are counted: read live within the lateness, then in the rollups once their hour settles', async () => {
    const late = new Date(now.getTime() - 90 * 60_000);
    const insert = (at: Date, n: number) =>
      app.owner.query(
        `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
         SELECT $1::timestamptz + g * interval '1 millisecond', 'late-' || g % 3, 'agent', 'retry', 900 + g, 90, 0.004
         FROM generate_series(1, $2::int) g`,
        [at, n],
      );
    const before = Number(
      (
        await app.owner.query<{ n: string }>(
          `SELECT count(*) AS n FROM inference_events WHERE created_at >= date_trunc('hour', $1::timestamptz, 'UTC')
             AND created_at < date_trunc('hour', $1::timestamptz, 'UTC') + interval '1 hour'`,
          [late],
        )
      ).rows[0].n,
    );
    await insert(late, 40);
    await app.owner.query(
      "INSERT INTO tool_calls (created_at, tool_name, success, retries) VALUES ($1, 'web_search', false, 7), ($1, 'late_tool', NULL, NULL)",
      [late],
    );
    // Still on the rollups, the late rows already count: the unsettled hours are read live.
    await diagnose(acts, app.owner, now.getTime(), ROLLUP_PATH);
    assert.equal(await hourCount(h, source, late), undefined, 'its hour is not settled with a 2 h lateness');
    // A pass with a shorter lateness settles that hour: the rollup holds the late rows.
    const pass = await acts.telemetryRollupPass({ lateness: '30m', retention: '10d' });
    assert.equal(pass.caughtUp, true, JSON.stringify(pass));
    assert.equal(await hourCount(h, source, late), before + 40);
    await diagnose(acts, app.owner, now.getTime(), ROLLUP_PATH);
  });

  test('day buckets follow the app session time zone on both paths', async () => {
    const ny = new Pool({ connectionString: app.readerUrl, max: 2, options: '-c TimeZone=America/New_York' });
    const owner = new Pool({ connectionString: app.readerUrl, max: 1, options: '-c TimeZone=America/New_York' });
    try {
      await diagnose(createActivities(testDeps(h.config, h.pool, h.env, ny)), owner, now.getTime(), ROLLUP_PATH);
    } finally {
      await Promise.all([ny.end(), owner.end()]);
    }
  });

  test('the worker keeps the rollup on a schedule with the configured interval and lateness', async () => {
    const scheduleId = `telemetry-rollup-test-${randomUUID().slice(0, 8)}`;
    const config = { enabled: true, every: '10m', lateness: '3h', retention: '10d' } as const;
    assert.equal(await ensureTelemetryRollupSchedule(h.client, config, h.taskQueue, scheduleId), 'created');
    try {
      const d = await h.client.schedule.getHandle(scheduleId).describe();
      assert.equal(d.spec.intervals?.[0]?.every, 600_000);
      assert.equal(d.action.type, 'startWorkflow');
      assert.deepEqual(d.action.type === 'startWorkflow' ? d.action.args : [], [{ lateness: '3h', retention: '10d' }]);
    } finally {
      await h.client.schedule.getHandle(scheduleId).delete();
    }
  });
});

describe('an app table with an id: rows later than the lateness are caught by the id watermark', () => {
  let app: SeedApp;
  let reader: Pool;
  let store: Pool;
  let acts: Activities;
  let source: string;
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);

  before(async () => {
    app = await createSeedApp({ id: true });
    await app.generate('hidden_recompute', 20_000, now);
    reader = new Pool({ connectionString: app.readerUrl, max: 4 });
    reader.on('error', () => undefined);
    store = new Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
    const h = await createHarness('rollup-id', {});
    acts = createActivities(testDeps(h.config, store, h.env, reader));
    await h.close();
  });

  after(async () => {
    if (source) await store?.query('DELETE FROM cost_rollup_sources WHERE source = $1', [source]);
    await reader?.end();
    await store?.end();
    await app?.drop();
  });

  test('a row 30 hours late is in the rollups after the next pass', async () => {
    let pass = await acts.telemetryRollupPass({ lateness: '2h', retention: '8d', maxHours: 500 });
    source = pass.source;
    assert.equal(pass.caughtUp, true, JSON.stringify(pass));
    assert.equal(pass.idWatermark, true);
    const late = new Date(now.getTime() - 30 * HOUR);
    await app.owner.query(
      `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
       VALUES ($1, 'very-late', 'chat', 'undo', 70000, 100, 2.5)`,
      [late],
    );
    // In the 48-hour window's partial first hour, and a whole hour of the 7-day window.
    const edge = new Date(now.getTime() - 47 * HOUR - 59 * 60_000);
    await app.owner.query(
      `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
       VALUES ($1, 'edge-late', NULL, NULL, NULL, 5, NULL)`,
      [edge],
    );
    await app.owner.query(
      "INSERT INTO tool_calls (created_at, tool_name, success, retries) VALUES ($1, 'web_search', false, 9), ($2, NULL, NULL, NULL)",
      [late, edge],
    );
    pass = await acts.telemetryRollupPass({ lateness: '2h', retention: '8d' });
    const hourOf = (t: Date) => new Date(Math.floor(t.getTime() / HOUR) * HOUR).toISOString();
    assert.deepEqual(pass.lateHours, [hourOf(edge), hourOf(late)]);
    for (const name of DIAGNOSTICS) {
      const o = await (acts[ACTIVITY[name]] as unknown as DiagnosticActivity)({ nowMs: now.getTime() });
      assert.ok(o.available && ROLLUP_PATH.test(o.query ?? ''), o.query);
      const seed = (await runSeedDiagnostic(app.owner, name, now)) as unknown as Rows;
      assert.equal(diffDiagnostic(name, o.data, seed), null);
    }
  });
});
