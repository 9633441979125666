// `npm run bench:telemetry`: the cost-spike runbook's six diagnostic steps, the project's queries
// (rollups of migration telemetry/002) against the seed's SQL as written, on the same data in one
// run, with the results checked equal.
//
// A fresh embedded Postgres in a temp folder holds two schemas: `plain` with only migration 001
// (the raw tables and 001's created_at indexes) and `fast` with 001 + 002. The scenario generator
// writes the rows into `plain`; they are copied into `fast` a day per statement, through the
// rollup triggers. Both are VACUUM ANALYZEd. Each step then runs --warmup times untimed and
// --repeat times timed on each side; the table shows the median. Last, the cost of the triggers
// to writers: single-row INSERTs and one bulk INSERT on each side.
//
//   npm run bench:telemetry -- [--rows 10000000] [--tool-rows 2000000] [--scenario no_spike]
//       [--repeat 3] [--warmup 1]
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import { migrate } from '../activities/db/migrate';
import { DIAGNOSTICS, runDiagnostic, type DiagnosticName } from '../activities/telemetry';
import { startEmbeddedPostgres } from '../dev/postgres';
import { generateTelemetry, SCENARIOS, type Scenario } from '../activities/telemetry-scenarios';
import { diffDiagnostic } from '../test/support/telemetry-compare';

const log = (line: string) => console.error(`[bench] ${line}`);

interface Options {
  rows: number;
  toolRows: number;
  scenario: Scenario;
  repeat: number;
  warmup: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { rows: 10_000_000, toolRows: 2_000_000, scenario: 'no_spike', repeat: 3, warmup: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const raw = argv[++i];
    if (flag === '--scenario') {
      if (!(SCENARIOS as readonly string[]).includes(raw))
        throw new Error(`--scenario: one of ${SCENARIOS.join(', ')}`);
      opts.scenario = raw as Scenario;
      continue;
    }
    const name = { '--rows': 'rows', '--tool-rows': 'toolRows', '--repeat': 'repeat', '--warmup': 'warmup' }[flag] as
      'rows' | 'toolRows' | 'repeat' | 'warmup' | undefined;
    const value = Number(raw);
    if (!name)
      throw new Error(`unknown argument ${flag}: expected --rows, --tool-rows, --scenario, --repeat, --warmup`);
    if (!Number.isInteger(value) || value < (name === 'warmup' ? 0 : 1))
      throw new Error(`${flag} needs a positive integer, got ${raw}`);
    opts[name] = value;
  }
  return opts;
}

const INGEST_SINGLE = 1000;
const INGEST_BATCH = 100_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const result = await fn();
  return [result, performance.now() - t0];
}

const STEP: Record<DiagnosticName, string> = {
  hourlyCost: '1 hourly cost (48 h)',
  traffic: '2 traffic, unique users (48 h)',
  triggers: '3 trigger types (48 h)',
  hiddenRatio: '3 hidden ratio (7 d)',
  tokens: '4 tokens avg, p95 (48 h)',
  features: '5 feature attribution (7 d)',
  toolFailures: '6 tool failures (48 h)',
};

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'runbooks-bench-telemetry-'));
  // As root, embedded Postgres runs as its own `postgres` user, which must reach the data folder.
  chmodSync(scratch, 0o755);
  const db = await startEmbeddedPostgres(path.join(scratch, 'postgres'), 'telemetry_bench', 0);
  const admin = new Pool({ connectionString: db.url, max: 1 });
  const plain = new Pool({ connectionString: db.url, max: 2, options: '-c search_path=plain' });
  const fast = new Pool({ connectionString: db.url, max: 2, options: '-c search_path=fast' });
  try {
    const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
    await admin.query('CREATE SCHEMA plain; CREATE SCHEMA fast');
    const migrations = path.join(__dirname, '..', 'activities', 'db', 'migrations', 'telemetry');
    await plain.query(readFileSync(path.join(migrations, '001_llm_telemetry.sql'), 'utf8'));
    await migrate(fast, 'telemetry');

    const now = new Date();
    now.setUTCMilliseconds(0);
    log(`Postgres ${version}; writing ${opts.rows} events + ${opts.toolRows} tool calls (${opts.scenario}) ...`);
    const [, genMs] = await timed(() =>
      generateTelemetry(plain, {
        scenario: opts.scenario,
        rows: opts.rows,
        toolRows: opts.toolRows,
        now,
        progress: (done, total) => {
          if (process.stderr.isTTY) process.stderr.write(`\r[bench] generated ${done}/${total} hours`);
        },
      }),
    );
    if (process.stderr.isTTY) process.stderr.write('\n');
    log(
      `generated into plain (no triggers) in ${(genMs / 1000).toFixed(1)} s; copying into fast through the triggers ...`,
    );
    const days = (
      await plain.query<{ day: Date }>(
        "SELECT DISTINCT date_trunc('day', created_at, 'UTC') AS day FROM inference_events ORDER BY 1",
      )
    ).rows.map((r) => r.day);
    const [, copyMs] = await timed(async () => {
      for (const day of days) {
        await fast.query(
          "INSERT INTO inference_events SELECT * FROM plain.inference_events WHERE created_at >= $1 AND created_at < $1::timestamptz + interval '1 day'",
          [day],
        );
        await fast.query(
          "INSERT INTO tool_calls SELECT * FROM plain.tool_calls WHERE created_at >= $1 AND created_at < $1::timestamptz + interval '1 day'",
          [day],
        );
      }
    });
    // The copies kept plain's ids; later inserts into fast need its sequences past them.
    for (const table of ['inference_events', 'tool_calls'])
      await fast.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT max(id) FROM ${table}))`);
    log(`copied with rollups in ${(copyMs / 1000).toFixed(1)} s; VACUUM ANALYZE ...`);
    await admin.query('VACUUM ANALYZE');
    const sizes = (
      await admin.query<{ schema: string; bytes: string }>(
        `SELECT n.nspname AS schema, sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('plain', 'fast') AND c.relkind = 'r' GROUP BY 1`,
      )
    ).rows;
    const rollupRows = (
      await fast.query<{ name: string; n: string }>(
        `SELECT 'inference_hourly' AS name, count(*)::text AS n FROM inference_hourly
         UNION ALL SELECT 'inference_hourly_users', count(*)::text FROM inference_hourly_users
         UNION ALL SELECT 'inference_hourly_tokens', count(*)::text FROM inference_hourly_tokens
         UNION ALL SELECT 'tool_calls_hourly', count(*)::text FROM tool_calls_hourly`,
      )
    ).rows;

    const results: { step: string; fast: number; seed: number; rows: number; equal: string }[] = [];
    let failures = 0;
    for (const name of DIAGNOSTICS) {
      const fastMs: number[] = [];
      const seedMs: number[] = [];
      let fastRows: Record<string, unknown>[] = [];
      let seedRows: Record<string, unknown>[] = [];
      for (let i = 0; i < opts.warmup + opts.repeat; i++) {
        // Alternate which side goes first so neither always runs on a warmer cache.
        const order = i % 2 === 0 ? (['seed', 'fast'] as const) : (['fast', 'seed'] as const);
        for (const how of order) {
          const [rows, ms] = await timed(() => runDiagnostic(how === 'fast' ? fast : plain, name, now, how));
          if (i < opts.warmup) continue;
          if (how === 'fast') {
            fastMs.push(ms);
            fastRows = rows as unknown as Record<string, unknown>[];
          } else {
            seedMs.push(ms);
            seedRows = rows as unknown as Record<string, unknown>[];
          }
        }
      }
      const diff = diffDiagnostic(name, fastRows, seedRows);
      if (diff) {
        failures++;
        log(`DIFFERENT ${diff}`);
      }
      results.push({
        step: STEP[name],
        fast: median(fastMs),
        seed: median(seedMs),
        rows: fastRows.length,
        equal: diff ? 'NO' : 'yes',
      });
      log(`${STEP[name]}: fast ${median(fastMs).toFixed(1)} ms, seed ${median(seedMs).toFixed(1)} ms`);
    }

    // What the triggers cost the writer, after the queries so their data is unchanged: an app
    // writing one event per request (single-row autocommit INSERTs, late ones included), and a
    // bulk load of past hours in one statement.
    const ingest: { side: string; single: number; batch: number }[] = [];
    for (const [side, pool] of [
      ['plain (001 only)', plain],
      ['fast (001 + 002)', fast],
    ] as const) {
      const singles: number[] = [];
      for (let i = 0; i < INGEST_SINGLE; i++) {
        const [, ms] = await timed(() =>
          pool.query(
            `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
             VALUES ($1::timestamptz - random() * interval '2 hours', 'u' || floor(random() * 20000), 'chat', 'user', 1500, 350, 0.00975)`,
            [now],
          ),
        );
        singles.push(ms);
      }
      const [, batch] = await timed(() =>
        pool.query(
          `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
           SELECT $1::timestamptz - random() * interval '48 hours', 'u' || floor(random() * 20000), 'chat', 'user',
                  500 + floor(random() * 3000)::int, 100 + floor(random() * 600)::int, 0.01
           FROM generate_series(1, ${INGEST_BATCH})`,
          [now],
        ),
      );
      ingest.push({ side, single: singles.reduce((a, b) => a + b, 0) / singles.length, batch });
    }

    const total = (k: 'fast' | 'seed') => results.reduce((a, r) => a + r[k], 0);
    console.log(`\nCost-spike diagnostics, ${opts.rows} inference_events over 30 days + ${opts.toolRows} tool_calls`);
    console.log(
      `(scenario ${opts.scenario}, Postgres ${version}, median of ${opts.repeat} after ${opts.warmup} warm-up)\n`,
    );
    console.log('| step | rows | project (ms) | seed SQL as written (ms) | equal |');
    console.log('| --- | ---: | ---: | ---: | --- |');
    for (const r of results)
      console.log(`| ${r.step} | ${r.rows} | ${r.fast.toFixed(1)} | ${r.seed.toFixed(1)} | ${r.equal} |`);
    console.log(`| **total** | | **${total('fast').toFixed(1)}** | **${total('seed').toFixed(1)}** | |`);
    console.log(
      `\nload: generate into plain ${(genMs / 1000).toFixed(1)} s; copy into fast through the rollup triggers ${(copyMs / 1000).toFixed(1)} s (${days.length} statements per table)`,
    );
    console.log(
      `table sizes: ${sizes.map((s) => `${s.schema} ${(Number(s.bytes) / 2 ** 20).toFixed(0)} MiB`).join(', ')}`,
    );
    console.log(`rollup rows: ${rollupRows.map((r) => `${r.name} ${r.n}`).join(', ')}`);
    console.log(
      `\n| inserts into inference_events | ${INGEST_SINGLE} single-row INSERTs, mean (ms) | one ${INGEST_BATCH}-row INSERT (ms) |`,
    );
    console.log('| --- | ---: | ---: |');
    for (const r of ingest) console.log(`| ${r.side} | ${r.single.toFixed(2)} | ${r.batch.toFixed(0)} |`);
    return failures === 0 ? 0 : 1;
  } finally {
    await Promise.all([admin.end(), plain.end(), fast.end()]);
    await db.stop().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[bench] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
