// `npm run bench:telemetry`: the cost-spike runbook's six diagnostic steps against an app database
// the runbook may only read, answered from the rollups in the project's store (the telemetry-rollup
// workflow's passes) and, side by side, by the seed's SQL as written on the app database; the
// results are checked equal.
//
// A fresh embedded Postgres in a temp folder holds two databases: `app`, with only the app's tables
// (telemetry migration 001, its created_at indexes and `id` keys), read through a role with SELECT
// on the events and nothing else of note; and `store`, the project's own (store migrations). The
// scenario generator writes the rows into `app` as its owner; the rollup passes then backfill the
// retention into `store` (timed), and one steady pass settles an hour (timed). Each step then runs
// --warmup times untimed and --repeat times timed on each side; the table shows the median.
//
//   npm run bench:telemetry -- [--rows 10000000] [--tool-rows 2000000] [--scenario no_spike]
//       [--repeat 3] [--warmup 1] [--lateness 2h] [--retention 14d]
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'pg';
import { migrate } from '../activities/db/migrate';
import { DIAGNOSTICS, readDiagnostic, runSeedDiagnostic, type DiagnosticName } from '../activities/telemetry';
import { rollupPass } from '../activities/telemetry-rollup';
import { startEmbeddedPostgres } from '../dev/postgres';
import { generateTelemetry, SCENARIOS, type Scenario } from '../activities/telemetry-scenarios';
import { diffDiagnostic } from '../test/support/telemetry-compare';
import { toMs } from '../workflows/toolkit/duration';

const log = (line: string) => console.error(`[bench] ${line}`);

interface Options {
  rows: number;
  toolRows: number;
  scenario: Scenario;
  repeat: number;
  warmup: number;
  lateness: string;
  retention: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    rows: 10_000_000,
    toolRows: 2_000_000,
    scenario: 'no_spike',
    repeat: 3,
    warmup: 1,
    lateness: '2h',
    retention: '14d',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const raw = argv[++i];
    if (flag === '--scenario') {
      if (!(SCENARIOS as readonly string[]).includes(raw))
        throw new Error(`--scenario: one of ${SCENARIOS.join(', ')}`);
      opts.scenario = raw as Scenario;
      continue;
    }
    if (flag === '--lateness' || flag === '--retention') {
      if (!/^\d+(ms|s|m|h|d|w)$/.test(raw ?? '')) throw new Error(`${flag} needs a duration like 2h, got ${raw}`);
      opts[flag === '--lateness' ? 'lateness' : 'retention'] = raw;
      continue;
    }
    const name = { '--rows': 'rows', '--tool-rows': 'toolRows', '--repeat': 'repeat', '--warmup': 'warmup' }[flag] as
      'rows' | 'toolRows' | 'repeat' | 'warmup' | undefined;
    const value = Number(raw);
    if (!name)
      throw new Error(
        `unknown argument ${flag}: expected --rows, --tool-rows, --scenario, --repeat, --warmup, --lateness, --retention`,
      );
    if (!Number.isInteger(value) || value < (name === 'warmup' ? 0 : 1))
      throw new Error(`${flag} needs a positive integer, got ${raw}`);
    opts[name] = value;
  }
  return opts;
}

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

const READER = 'runbook_reader';

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'runbooks-bench-telemetry-'));
  // As root, embedded Postgres runs as its own `postgres` user, which must reach the data folder.
  chmodSync(scratch, 0o755);
  const db = await startEmbeddedPostgres(path.join(scratch, 'postgres'), 'store', 0);
  const admin = new Pool({ connectionString: db.url, max: 1 });
  await admin.query('CREATE DATABASE app');
  const appUrl = new URL(db.url);
  appUrl.pathname = '/app';
  const owner = new Pool({ connectionString: appUrl.toString(), max: 2 });
  const readerUrl = new URL(appUrl);
  readerUrl.username = READER;
  readerUrl.password = READER;
  const reader = new Pool({ connectionString: readerUrl.toString(), max: 2 });
  const store = new Pool({ connectionString: db.url, max: 2 });
  // Stopping the server at the end ends idle sessions: not an error of the run.
  for (const pool of [admin, owner, reader, store]) pool.on('error', () => undefined);
  try {
    const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
    const migrations = path.join(__dirname, '..', 'activities', 'db', 'migrations', 'telemetry');
    await owner.query(readFileSync(path.join(migrations, '001_llm_telemetry.sql'), 'utf8'));
    // The runbook's role: SELECT on the events, the flags it writes, no DDL, no temporary tables.
    await admin.query(`CREATE ROLE ${READER} LOGIN PASSWORD '${READER}'`);
    await admin.query(`REVOKE ALL ON DATABASE app FROM PUBLIC; GRANT CONNECT ON DATABASE app TO ${READER}`);
    await owner.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO ${READER};
      GRANT SELECT ON inference_events, tool_calls TO ${READER};
      GRANT SELECT, INSERT, UPDATE, DELETE ON feature_flags TO ${READER}`);
    await migrate(store, 'store');

    const now = new Date();
    now.setUTCMilliseconds(0);
    log(`Postgres ${version}; writing ${opts.rows} events + ${opts.toolRows} tool calls (${opts.scenario}) ...`);
    const [, genMs] = await timed(() =>
      generateTelemetry(owner, {
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
    log(`generated in ${(genMs / 1000).toFixed(1)} s; VACUUM ANALYZE ...`);
    await owner.query('VACUUM ANALYZE');

    // The workflow's passes, as the schedule runs them: a day per pass until caught up.
    const passMs: number[] = [];
    const [, backfillMs] = await timed(async () => {
      for (;;) {
        const [pass, ms] = await timed(() =>
          rollupPass(reader, store, { lateness: opts.lateness, retention: opts.retention }),
        );
        passMs.push(ms);
        if (pass.caughtUp) break;
      }
    });
    log(`backfilled ${opts.retention} in ${passMs.length} passes, ${(backfillMs / 1000).toFixed(1)} s`);
    // A steady pass settles the next hour, as when the clock passes an hour: here, by a lateness
    // an hour shorter. Then a pass with nothing due, as most of the 5-minute runs are.
    const steadyLateness = Math.max(0, toMs(opts.lateness) - 3_600_000);
    const [steady, steadyMs] = await timed(() =>
      rollupPass(reader, store, { lateness: steadyLateness, retention: opts.retention }),
    );
    const [idle, idleMs] = await timed(() =>
      rollupPass(reader, store, { lateness: steadyLateness, retention: opts.retention }),
    );
    await store.query('VACUUM ANALYZE');
    log(
      `steady pass (${steady.hours} hour) ${steadyMs.toFixed(0)} ms, nothing due ${idleMs.toFixed(0)} ms (${idle.hours} hours)`,
    );

    const target = { telemetry: reader, store, label: 'the app database' };
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
          if (how === 'fast') {
            const [answer, ms] = await timed(() => readDiagnostic(target, name, now));
            if (!/rollups in the store/.test(answer.query))
              throw new Error(`${name} not from the rollups: ${answer.query}`);
            if (i < opts.warmup) continue;
            fastMs.push(ms);
            fastRows = answer.rows as unknown as Record<string, unknown>[];
          } else {
            const [rows, ms] = await timed(() => runSeedDiagnostic(reader, name, now));
            if (i < opts.warmup) continue;
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
      log(`${STEP[name]}: rollups ${median(fastMs).toFixed(1)} ms, seed ${median(seedMs).toFixed(1)} ms`);
    }

    const appBytes = (
      await owner.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes')
    ).rows[0].bytes;
    const rollupSizes = (
      await store.query<{ name: string; n: string; bytes: string }>(
        `SELECT c.relname AS name, c.reltuples::bigint::text AS n, pg_total_relation_size(c.oid)::text AS bytes
         FROM pg_class c WHERE c.relname IN ('cost_rollup_hours', 'cost_rollup_groups', 'cost_rollup_tools') ORDER BY 1`,
      )
    ).rows;
    const settled = (await store.query<{ s: Date }>('SELECT settled_until AS s FROM cost_rollup_sources')).rows[0].s;
    const tail = (
      await owner.query<{ n: string }>('SELECT count(*)::text AS n FROM inference_events WHERE created_at >= $1', [
        settled,
      ])
    ).rows[0].n;

    const total = (k: 'fast' | 'seed') => results.reduce((a, r) => a + r[k], 0);
    console.log(
      `\nCost-spike diagnostics on a read-only app database, ${opts.rows} inference_events over 30 days + ${opts.toolRows} tool_calls`,
    );
    console.log(
      `(scenario ${opts.scenario}, Postgres ${version}, lateness ${opts.lateness}, median of ${opts.repeat} after ${opts.warmup} warm-up)\n`,
    );
    console.log('| step | rows | rollups in the store + live tail (ms) | seed SQL as written (ms) | equal |');
    console.log('| --- | ---: | ---: | ---: | --- |');
    for (const r of results)
      console.log(`| ${r.step} | ${r.rows} | ${r.fast.toFixed(1)} | ${r.seed.toFixed(1)} | ${r.equal} |`);
    console.log(`| **total** | | **${total('fast').toFixed(1)}** | **${total('seed').toFixed(1)}** | |`);
    console.log(`\nload: generate into app ${(genMs / 1000).toFixed(1)} s`);
    console.log(
      `machine load average at the end (1, 5, 15 min): ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')}`,
    );
    console.log(
      `rollup backfill of ${opts.retention}: ${passMs.length} passes, ${(backfillMs / 1000).toFixed(1)} s (median pass ${median(passMs).toFixed(0)} ms, slowest ${Math.max(...passMs).toFixed(0)} ms)`,
    );
    console.log(
      `steady pass settling one hour: ${steadyMs.toFixed(0)} ms; a pass with nothing due: ${idleMs.toFixed(0)} ms`,
    );
    console.log(`live tail read from the app (rows from settled_until ${settled.toISOString()} on): ${tail} events`);
    console.log(
      `sizes: app database ${(Number(appBytes) / 2 ** 20).toFixed(0)} MiB; rollups ${rollupSizes
        .map((r) => `${r.name} ${r.n} rows ${(Number(r.bytes) / 2 ** 20).toFixed(1)} MiB`)
        .join(', ')}`,
    );
    return failures === 0 ? 0 : 1;
  } finally {
    await Promise.all([admin.end(), owner.end(), reader.end(), store.end()]);
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
