// The cost-spike diagnostics from the rollups (activities/telemetry.ts, migration telemetry/002)
// give exactly the seed's SQL results on generated telemetry, and stay exact after late events:
// into a past hour, into the partial hours at the windows' starts, into the current hour and the
// future, with NULL user / feature / trigger_type, one row per statement and many at once.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'pg';
import { DIAGNOSTICS, SEED_SQL, createTelemetryQueries, runDiagnostic } from '../../activities/telemetry';
import { generateTelemetry, SCENARIOS, type Scenario } from '../../activities/telemetry-scenarios';
import { diffDiagnostic } from '../support/telemetry-compare';

const NOW = new Date('2026-03-10T15:27:41.123Z');
const at = (msBefore: number) => new Date(NOW.getTime() - msBefore);
const HOUR = 3_600_000;

async function assertAllEqual(pool: Pool, now = NOW): Promise<void> {
  for (const name of DIAGNOSTICS) {
    const fast = await runDiagnostic(pool, name, now, 'fast');
    const seed = await runDiagnostic(pool, name, now, 'seed');
    assert.ok(seed.length > 0, `${name}: the seed's SQL returned no rows`);
    const diff = diffDiagnostic(
      name,
      fast as unknown as Record<string, unknown>[],
      seed as unknown as Record<string, unknown>[],
    );
    assert.equal(diff, null, diff ?? '');
  }
}

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

describe('cost-spike diagnostics over the rollups', () => {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });

  before(async () => {
    await pool.query('TRUNCATE inference_events, tool_calls');
    await generateTelemetry(pool, { scenario: 'hidden_recompute', rows: 50_000, toolRows: 10_000, now: NOW });
  });
  after(() => pool.end());

  test('each diagnostic equals the seed SQL on generated data', async () => {
    await assertAllEqual(pool);
    const rows = await createTelemetryQueries(pool).traffic(NOW);
    assert.equal(rows.length, 49, 'the partial hour at the start plus 48 whole hours');
    assert.ok(Number(rows[10].unique_users) > 0);
  });

  test('late events into a past hour, the partial edge hours, now and the future', async () => {
    // A past hour well inside both windows: new and known users, NULL keys, extreme token counts.
    const past = at(30 * HOUR + 17 * 60_000);
    await insertEvent(pool, past, { user: 'late-1', input: 250_000, output: 90_000 });
    await insertEvent(pool, past, { user: null, feature: null, trigger: null });
    // A second statement onto the same NULL-keyed rollup row (NULLS NOT DISTINCT must merge them).
    await insertEvent(pool, past, { user: null, feature: null, trigger: null, input: 7, output: 1 });
    await insertEvent(pool, past, { user: 'u1', trigger: 'undo' });
    // Many rows in one statement, duplicates of one user in one hour included.
    await pool.query(
      `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
       SELECT $1::timestamptz + g * interval '1 second', 'batch-' || (g % 7), 'summarize', 'auto_save', 100 + g, 50 + g % 3, 0.0042
       FROM generate_series(1, 500) g`,
      [at(20 * HOUR)],
    );
    // The partial hours at the start of the 48-hour and 7-day windows, on both sides of the edge.
    for (const edge of [48 * HOUR, 7 * 24 * HOUR]) {
      await insertEvent(pool, at(edge - 60_000), { user: 'edge-in' });
      await insertEvent(pool, at(edge), { user: 'edge-exact' });
      await insertEvent(pool, at(edge + 60_000), { user: 'edge-out' });
    }
    // The hour in progress and an event stamped in the future (the seed's windows are open-ended).
    await insertEvent(pool, at(60_000), { user: 'now-1', trigger: 'retry' });
    await insertEvent(pool, new Date(NOW.getTime() + 2 * HOUR), { user: 'future-1', feature: 'agent' });
    await pool.query(
      `INSERT INTO tool_calls (created_at, tool_name, success, retries)
       VALUES ($1, 'web_search', false, 5), ($2, 'new_tool', true, 0), ($3, 'web_search', false, 2), ($4, 'code_exec', false, 1)`,
      [at(30 * HOUR), at(48 * HOUR - 1000), at(48 * HOUR), at(60_000)],
    );
    await assertAllEqual(pool);
  });

  test('inside a transaction the rollups already include its own inserts', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
         VALUES ($1, 'tx-user', 'doc_qa', 'user', 9000, 900, 0.0405)`,
        [at(5 * HOUR)],
      );
      const mine = await runDiagnostic(pool, 'traffic', NOW);
      const seen = await client.query<{ unique_users: string }>(
        `SELECT users AS unique_users FROM inference_hourly_user_counts WHERE hour = date_trunc('hour', $1::timestamptz, 'UTC')`,
        [at(5 * HOUR)],
      );
      const outside = mine.find((r) => r.hour.getTime() === Math.floor(at(5 * HOUR).getTime() / HOUR) * HOUR);
      assert.equal(Number(seen.rows[0].unique_users), Number(outside?.unique_users) + 1, 'not visible outside yet');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await assertAllEqual(pool);
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
      await assertAllEqual(ny, new Date(NOW.getTime() + 7 * 60_000));
    } finally {
      await ny.end();
    }
  });

  test('rebuilding the rollups from the raw tables changes no result', async () => {
    const expected = await runDiagnostic(pool, 'tokens', NOW);
    await pool.query('SELECT telemetry_rebuild_rollups()');
    assert.deepEqual(await runDiagnostic(pool, 'tokens', NOW), expected);
    await assertAllEqual(pool);
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
