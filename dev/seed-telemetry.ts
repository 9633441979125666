// `npm run seed:telemetry -- --scenario <name> --rows N [--tool-rows M] [--now ISO]
//     [--spike-hours 8] [--seed 0.42] [--replace | --append]`: one scenario's 30 days of telemetry
// (activities/telemetry-scenarios.ts). Writes to TELEMETRY_DATABASE_URL, else DATABASE_URL, else
// the embedded Postgres of the running `npm start` (the URL it wrote in .data), else that embedded
// Postgres started for the seed and stopped after; the telemetry migrations are applied first.
// Refuses to add to non-empty tables unless told --replace (truncate first) or --append. The
// store's rollups of that database are then reset, so no diagnostic reads the rows it replaced:
// the telemetry-rollup schedule rebuilds them, and the seed's SQL answers meanwhile.
import type { Pool } from 'pg';
import { telemetrySource } from '../activities/telemetry-app';
import { resetRollups } from '../activities/telemetry-rollup-state';
import { generateTelemetry, SCENARIOS, type GenerateOptions, type Scenario } from '../activities/telemetry-scenarios';
import { EMBEDDED_DATABASE, EMBEDDED_POSTGRES_DIR, writtenDatabaseUrl } from './database-url';

interface CliOptions extends GenerateOptions {
  mode: 'new' | 'replace' | 'append';
}

function parseArgs(argv: string[]): CliOptions {
  const opts: CliOptions = { scenario: 'no_spike', rows: 100_000, mode: 'new' };
  const number = (flag: string, raw: string | undefined): number => {
    const value = Number(raw);
    if (raw === undefined || !Number.isFinite(value) || value < 0)
      throw new Error(`${flag} needs a number, got ${raw}`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--scenario') {
      const name = argv[++i];
      if (!(SCENARIOS as readonly string[]).includes(name))
        throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}; got ${name}`);
      opts.scenario = name as Scenario;
    } else if (flag === '--rows') opts.rows = Math.round(number(flag, argv[++i]));
    else if (flag === '--tool-rows') opts.toolRows = Math.round(number(flag, argv[++i]));
    else if (flag === '--spike-hours') opts.spikeHours = number(flag, argv[++i]);
    else if (flag === '--seed') opts.seed = number(flag, argv[++i]);
    else if (flag === '--now') {
      const now = new Date(argv[++i] ?? '');
      if (Number.isNaN(now.getTime())) throw new Error(`--now needs an ISO time, got ${argv[i]}`);
      opts.now = now;
    } else if (flag === '--replace') opts.mode = 'replace';
    else if (flag === '--append') opts.mode = 'append';
    else
      throw new Error(
        `unknown argument ${flag}: expected --scenario NAME, --rows N, --tool-rows N, --now ISO, --spike-hours H, --seed X, --replace, --append`,
      );
  }
  return opts;
}

interface Target {
  url: string;
  /** The project's own database (its store), where the rollups of the seeded one are kept. */
  storeUrl?: string;
  how: string;
  stop?: () => Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  const { Client } = await import('pg');
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The database to seed: the one named, the running `npm start`'s, or its embedded one started now. */
async function findTarget(env: NodeJS.ProcessEnv): Promise<Target> {
  const named = env.TELEMETRY_DATABASE_URL ?? env.DATABASE_URL;
  if (named)
    return {
      url: named,
      storeUrl: env.DATABASE_URL ?? writtenDatabaseUrl(),
      how: env.TELEMETRY_DATABASE_URL ? 'TELEMETRY_DATABASE_URL' : 'DATABASE_URL',
    };
  const written = writtenDatabaseUrl();
  if (written && (await reachable(written)))
    return { url: written, storeUrl: written, how: 'the embedded Postgres of the running npm start' };
  // Nothing running: the embedded Postgres `npm start` uses, in the same folder, for the seed only.
  const { startEmbeddedPostgres } = await import('./postgres');
  const db = await startEmbeddedPostgres(EMBEDDED_POSTGRES_DIR, EMBEDDED_DATABASE);
  return { url: db.url, storeUrl: db.url, how: `the embedded Postgres in ${EMBEDDED_POSTGRES_DIR}`, stop: db.stop };
}

/** Resets the store's rollups of `telemetry`, when the store has any; says what it did. */
async function resetStoreRollups(telemetry: Pool, storeUrl: string | undefined): Promise<string> {
  if (!storeUrl) return 'no store database known (DATABASE_URL): its rollups, if any, are not reset';
  const { Pool: PgPool } = await import('pg');
  const store = new PgPool({ connectionString: storeUrl, max: 1 });
  try {
    const has = await store.query<{ t: string | null }>("SELECT to_regclass('cost_rollup_sources')::text AS t");
    if (!has.rows[0].t) return 'the store has no rollups yet';
    const source = telemetrySource(telemetry);
    return (await resetRollups(store, source))
      ? `rollups of ${source} reset in the store: the telemetry-rollup schedule rebuilds them`
      : `no rollups of ${source} in the store yet`;
  } finally {
    await store.end();
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const target = await findTarget(process.env);
  const { Pool: PgPool } = await import('pg');
  const { migrate } = await import('../activities/db/migrate');
  const pool = new PgPool({ connectionString: target.url });
  try {
    console.log(`[seed] into ${target.how}`);
    await migrate(pool, 'telemetry');
    const existing = await pool.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM (SELECT 1 FROM inference_events LIMIT 1) a) + (SELECT count(*) FROM (SELECT 1 FROM tool_calls LIMIT 1) b) AS n',
    );
    if (Number(existing.rows[0].n) > 0) {
      if (opts.mode === 'new')
        throw new Error('inference_events or tool_calls already has rows: pass --replace to truncate them or --append');
      if (opts.mode === 'replace') await pool.query('TRUNCATE inference_events, tool_calls');
    }
    const started = Date.now();
    const written = await generateTelemetry(pool, {
      ...opts,
      progress: (done, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\r[seed] ${done}/${total} hours`);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(
      `[seed] ${opts.scenario}: ${written.events} inference_events, ${written.tools} tool_calls in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    console.log(`[seed] ${await resetStoreRollups(pool, target.storeUrl)}`);
  } finally {
    await pool.end();
    await target.stop?.();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`[seed] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
