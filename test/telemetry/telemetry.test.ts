// The cost-spike diagnostics from the store's rollups (activities/telemetry-rollup*.ts, migration
// store/005) give exactly the seed's SQL results on generated telemetry, and stay exact after late
// events: into a past hour, into the partial hours at the windows' starts, into the current hour
// and the future, with NULL user / feature / trigger_type, one row per statement and many at once.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'pg';
import {
  DIAGNOSTICS,
  SEED_SQL,
  createTelemetryQueries,
  readDiagnostic,
  runSeedDiagnostic,
} from '../../activities/telemetry';
import { telemetrySource } from '../../activities/telemetry-app';
import { rollupPass } from '../../activities/telemetry-rollup';
import { resetRollups } from '../../activities/telemetry-rollup-state';
import { generateTelemetry, SCENARIOS, type Scenario } from '../../activities/telemetry-scenarios';
import { diffDiagnostic } from '../support/telemetry-compare';

const NOW = new Date('2026-03-10T15:27:41.123Z');
const HOUR = 3_600_000;

async function insertEvent(
  pool: Pool,
  createdAt: Date,
  fields: { user?: string | null; feature?: string | null; trigger?: string | null; input?: number; output?: number },
): Promise<void> {
  await pool.query(
    `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
     VALUES ($1, $2, $3, $4, $5, $6, round(($5 * 3 + $6 * 15) / 1000000.0, 6))`,
    [
      createdAt,
      fields.user === undefined ? 'late-user' : fields.user,
      fields.feature === undefined ? 'chat' : fields.feature,
      fields.trigger === undefined ? 'user' : fields.trigger,
      fields.input ?? 1234,
      fields.output ?? 321,
    ],
  );
}

const SEEDS = path.join(__dirname, '..', '..', '..', 'shared', 'seeds');

test(
  'SEED_SQL is the SQL of seed 003, character for character',
  { skip: !existsSync(SEEDS) && 'no ../shared/seeds' },
  () => {
    const file = readdirSync(SEEDS).find((f) => f.startsWith('003_'));
    assert.ok(file, `no 003_*.txt in ${SEEDS}`);
    const blocks = [...readFileSync(path.join(SEEDS, file), 'utf8').matchAll(/```sql\n([\s\S]*?)```/g)].map((m) =>
      m[1].trimEnd(),
    );
    for (const name of DIAGNOSTICS) assert.ok(blocks.includes(SEED_SQL[name]), `${name} differs from the seed`);
  },
);

describe('cost-spike diagnostics over the store rollups', () => {
  // The embedded default: the app's tables in the store's database, rolled up into the same one.
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  const source = telemetrySource(pool);
  // The rollup passes read the database's clock: the data ends at the wall clock's now.
  const LIVE = new Date(Math.floor(Date.now() / 1000) * 1000);
  const ago = (msBefore: number) => new Date(LIVE.getTime() - msBefore);
  const pass = (lateness = '2h', maxHours = 1000) => rollupPass(pool, pool, { lateness, retention: '9d', maxHours });

  async function assertAllEqual(db: Pool = pool, now = LIVE, path = /rollups in the store/): Promise<void> {
    for (const name of DIAGNOSTICS) {
      const answer = await readDiagnostic({ telemetry: db, store: pool, label: 'the app database' }, name, now);
      assert.match(answer.query, path, `${name}: ${answer.query}`);
      const seed = await runSeedDiagnostic(db, name, now);
      assert.ok(seed.length > 0, `${name}: the seed's SQL returned no rows`);
      const diff = diffDiagnostic(
        name,
        answer.rows as unknown as Record<string, unknown>[],
        seed as unknown as Record<string, unknown>[],
      );
      assert.equal(diff, null, diff ?? '');
    }
  }

  before(async () => {
    await pool.query('TRUNCATE inference_events, tool_calls');
    await resetRollups(pool, source);
    await generateTelemetry(pool, { scenario: 'hidden_recompute', rows: 50_000, toolRows: 10_000, now: LIVE });
  });
  after(async () => {
    await resetRollups(pool, source);
    await pool.end();
  });

  test('while the rollups catch up the seed SQL answers, with the same numbers', async () => {
    await assertAllEqual(pool, LIVE, /the seed's SQL on the app database \(no rollup pass has run/);
    const first = await pass('2h', 24);
    assert.equal(first.caughtUp, false);
    assert.equal(first.idWatermark, true);
    await assertAllEqual(
      pool,
      LIVE,
      /the seed's SQL on the app database \(the rollups are settled until .* catching up\)/,
    );
  });

  test('each diagnostic equals the seed SQL on generated data', async () => {
    assert.equal((await pass()).caughtUp, true);
    await assertAllEqual();
    const rows = await createTelemetryQueries(pool, pool).traffic(LIVE);
    // Just past the hour, the hour in progress may have no events yet.
    const inProgress = await pool.query(
      "SELECT 1 FROM inference_events WHERE created_at >= date_trunc('hour', $1::timestamptz, 'UTC') LIMIT 1",
      [LIVE],
    );
    assert.equal(
      rows.length,
      48 + (inProgress.rowCount ?? 0),
      'the partial hour at the start, 47 whole hours and the hour in progress',
    );
    assert.ok(Number(rows[10].unique_users) > 0);
  });

  test('late events into a past hour, the partial edge hours, now and the future', async () => {
    // A past hour well inside both windows: new and known users, NULL keys, extreme token counts.
    const past = ago(30 * HOUR + 17 * 60_000);
    await insertEvent(pool, past, { user: 'late-1', input: 250_000, output: 90_000 });
    await insertEvent(pool, past, { user: null, feature: null, trigger: null });
    await insertEvent(pool, past, { user: null, feature: null, trigger: null, input: 7, output: 1 });
    await insertEvent(pool, past, { user: 'u1', trigger: 'undo' });
    // Many rows in one statement, duplicates of one user in one hour included.
    await pool.query(
      `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
       SELECT $1::timestamptz + g * interval '1 second', 'batch-' || (g % 7), 'summarize', 'auto_save', 100 + g, 50 + g % 3, 0.0042
       FROM generate_series(1, 500) g`,
      [ago(20 * HOUR)],
    );
    // The partial hours at the start of the 48-hour and 7-day windows, on both sides of the edge.
    for (const edge of [48 * HOUR, 7 * 24 * HOUR]) {
      await insertEvent(pool, ago(edge - 60_000), { user: 'edge-in' });
      await insertEvent(pool, ago(edge), { user: 'edge-exact' });
      await insertEvent(pool, ago(edge + 60_000), { user: 'edge-out' });
    }
    await pool.query(
      `INSERT INTO tool_calls (created_at, tool_name, success, retries)
       VALUES ($1, 'web_search', false, 5), ($2, 'new_tool', true, 0), ($3, 'web_search', false, 2), ($4, 'code_exec', false, 1)`,
      [ago(30 * HOUR), ago(48 * HOUR - 1000), ago(48 * HOUR), ago(60_000)],
    );
    // Later than the lateness: counted once a pass has found them by their ids.
    const found = await pass();
    assert.ok(found.lateHours.length >= 4, JSON.stringify(found.lateHours));
    await assertAllEqual();
    // Within the lateness, the hour in progress and the future: read live, counted at once.
    await insertEvent(pool, ago(90 * 60_000), { user: 'late-2', trigger: 'retry' });
    await insertEvent(pool, ago(60_000), { user: 'now-1', trigger: 'retry' });
    await insertEvent(pool, new Date(LIVE.getTime() + 2 * HOUR), { user: 'future-1', feature: 'agent' });
    await assertAllEqual();
    await pass();
    await assertAllEqual();
  });

  test('day buckets follow the session time zone like the seed SQL', async () => {
    const ny = new Pool({
      connectionString: process.env.DATABASE_URL,
      max: 1,
      options: '-c TimeZone=America/New_York',
    });
    try {
      await assertAllEqual(ny);
      // A later `now` moves both windows' partial hours onto other rows.
      await assertAllEqual(ny, new Date(LIVE.getTime() + 7 * 60_000));
    } finally {
      await ny.end();
    }
  });

  test('a session time zone off the whole hour is answered by the seed SQL', async () => {
    const india = new Pool({ connectionString: process.env.DATABASE_URL, max: 1, options: '-c TimeZone=Asia/Kolkata' });
    try {
      await assertAllEqual(india, LIVE, /the seed's SQL on the app database \(the app session's time zone/);
    } finally {
      await india.end();
    }
  });

  test('a reloaded table (its ids went back) starts the rollups over', async () => {
    await pool.query('TRUNCATE inference_events, tool_calls RESTART IDENTITY');
    await generateTelemetry(pool, { scenario: 'context_bloat', rows: 20_000, now: LIVE });
    const again = await pass();
    assert.equal(again.caughtUp, true);
    assert.equal(again.hours, 9 * 24 - 2, 'every settled hour of the retention aggregated again');
    assert.equal(new Date(again.coverageFrom).getTime(), Math.floor((LIVE.getTime() - 9 * 24 * HOUR) / HOUR) * HOUR);
    await assertAllEqual();
  });
});

// Each scenario's root cause shows in the diagnostics the runbook reads: the last 8 hours (the
// injected spike) against the same hours a day earlier, from the fast queries.
describe('scenario generator: one visible root cause each', () => {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  after(() => pool.end());
  const q = createTelemetryQueries(pool);
  const SPIKE_FROM = NOW.getTime() - 7 * HOUR; // whole hours inside the 8-hour spike
  const inSpike = (t: Date) => t.getTime() >= SPIKE_FROM;
  const dayBefore = (t: Date) => t.getTime() >= SPIKE_FROM - 24 * HOUR && t.getTime() < NOW.getTime() - 24 * HOUR;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

  async function signals(scenario: Scenario) {
    await pool.query('TRUNCATE inference_events, tool_calls');
    await generateTelemetry(pool, { scenario, rows: 60_000, now: NOW });
    const traffic = await q.traffic(NOW);
    const tokens = await q.tokens(NOW);
    const triggers = await q.triggers(NOW);
    const features = await q.features(NOW);
    const tools = await q.toolFailures(NOW);
    const ratio = <T extends { hour: Date }>(rows: T[], value: (r: T) => number) =>
      sum(rows.filter((r) => inSpike(r.hour)).map(value)) / sum(rows.filter((r) => dayBefore(r.hour)).map(value));
    const hidden = (pick: (t: Date) => boolean) => {
      const rows = triggers.filter((r) => pick(r.hour));
      const hid = rows.filter((r) => ['undo', 'retry', 'auto_save'].includes(r.trigger_type ?? ''));
      return sum(hid.map((r) => Number(r.count))) / sum(rows.map((r) => Number(r.count)));
    };
    const days = [...new Set(features.map((r) => r.day.getTime()))].sort();
    const summarize = (day: number) => {
      const row = features.find((r) => r.day.getTime() === day && r.feature === 'summarize');
      return Number(row?.cost_per_request);
    };
    const webSearch = tools.find((r) => r.tool_name === 'web_search');
    return {
      cost: ratio(traffic, (r) => Number(r.total_cost)),
      requests: ratio(traffic, (r) => Number(r.requests)),
      users: ratio(traffic, (r) => Number(r.unique_users)),
      input: ratio(tokens, (r) => Number(r.avg_input)),
      output: ratio(tokens, (r) => Number(r.avg_output)),
      hiddenNow: hidden(inSpike),
      hiddenBefore: hidden(dayBefore),
      summarize: summarize(days[days.length - 1]) / summarize(days[days.length - 3]),
      webSearchFailures: webSearch?.failure_rate ?? 0,
    };
  }

  const expectations: Record<Scenario, (s: Awaited<ReturnType<typeof signals>>) => void> = {
    no_spike: (s) => assert.ok(s.cost > 0.8 && s.cost < 1.2, `cost x${s.cost.toFixed(2)}`),
    traffic_increase: (s) => assert.ok(s.requests > 1.5 && s.users > 1.5, JSON.stringify(s)),
    bot_or_abuse: (s) => assert.ok(s.requests > 1.5 && s.users < 1.2, JSON.stringify(s)),
    hidden_recompute: (s) => assert.ok(s.hiddenNow > 0.3 && s.hiddenBefore < 0.15 && s.users < 1.2, JSON.stringify(s)),
    context_bloat: (s) => assert.ok(s.input > 2 && s.output < 1.2 && s.requests < 1.2, JSON.stringify(s)),
    output_growth: (s) => assert.ok(s.output > 2 && s.input < 1.2 && s.requests < 1.2, JSON.stringify(s)),
    feature_regression: (s) => assert.ok(s.summarize > 1.5 && s.input < 1.6 && s.requests < 1.2, JSON.stringify(s)),
    tool_retry_storm: (s) => assert.ok(s.webSearchFailures > 0.08 && s.users < 1.2, JSON.stringify(s)),
  };

  for (const scenario of SCENARIOS)
    test(scenario, async () => {
      const s = await signals(scenario);
      if (scenario !== 'no_spike') assert.ok(s.cost > 1.2, `cost only x${s.cost.toFixed(2)} over the day before`);
      expectations[scenario](s);
    });
});
