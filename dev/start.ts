// `npm start`: the whole product on embedded defaults. Temporal dev server with its Web UI
// (persistent SQLite in .data/), embedded Postgres (migrated), the worker and the gateway.
// TEMPORAL_ADDRESS / DATABASE_URL, when set, are used instead and nothing of that kind is started.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../config/load';
import { migrateAll } from '../activities/db/migrate';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import {
  DATA_DIR,
  EMBEDDED_DATABASE,
  EMBEDDED_POSTGRES_DIR,
  forgetDatabaseUrl,
  URL_FILE,
  writeDatabaseUrl,
} from './database-url';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './postgres';
import { PROJECT_ROOT, startDevServer } from './temporal-binaries';

const log = (line: string) => console.log(`[start] ${line}`);

async function main(): Promise<void> {
  loadConfig(); // fail now, naming the bad field, rather than in each child
  mkdirSync(DATA_DIR, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env };
  let temporal: TestWorkflowEnvironment | undefined;
  let db: EmbeddedDatabase | undefined;
  const children: ChildProcess[] = [];
  let stopping = false;
  let watchdog: NodeJS.Timeout | undefined;
  let probes: Pool | undefined;

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping…');
    clearInterval(watchdog);
    await probes?.end().catch(() => undefined);
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    // A part that already died may never answer its stop: each gets a few seconds, no more (and an
    // empty event loop would let embedded-postgres's exit hook end the process with code 0).
    await within(10_000, temporal?.teardown());
    if (db) forgetDatabaseUrl();
    await within(10_000, db?.stop());
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  try {
    if (!env.TEMPORAL_ADDRESS) {
      const port = Number(env.TEMPORAL_PORT ?? 7233);
      const uiPort = Number(env.TEMPORAL_UI_PORT ?? 8233);
      const started = await startDevServer({
        port,
        uiPort,
        dbFilename: path.join(DATA_DIR, 'temporal.sqlite'),
        searchAttributes: SEARCH_ATTRIBUTES,
        log,
      });
      temporal = started.env;
      env.TEMPORAL_ADDRESS = `127.0.0.1:${port}`;
      log(`Temporal dev server (${started.binary}) on ${env.TEMPORAL_ADDRESS}`);
      log(`Temporal Web UI: http://127.0.0.1:${uiPort}`);
    } else {
      log(`using Temporal at ${env.TEMPORAL_ADDRESS}`);
    }

    if (!env.DATABASE_URL) {
      db = await startEmbeddedPostgres(EMBEDDED_POSTGRES_DIR, EMBEDDED_DATABASE);
      env.DATABASE_URL = db.url;
      // For `npm run seed:telemetry` and other tools run beside this one.
      writeDatabaseUrl(db.url);
      const file = path.relative(PROJECT_ROOT, URL_FILE);
      log(`embedded Postgres: ${db.url} (also in ${file.startsWith('..') ? URL_FILE : file})`);
    } else {
      log('using Postgres at DATABASE_URL');
    }
    const pool = new Pool({ connectionString: env.DATABASE_URL });
    const telemetry = env.TELEMETRY_DATABASE_URL ? new Pool({ connectionString: env.TELEMETRY_DATABASE_URL }) : pool;
    await migrateAll(pool, telemetry, telemetry === pool);
    await pool.end();
    if (telemetry !== pool) await telemetry.end();
    log('migrations applied');

    // The gateway proves the decisions whose responder token it checked; the worker checks the proof.
    env.DECISION_SIGNING_KEY ||= randomBytes(32).toString('hex');

    for (const [name, entry] of [
      ['worker', 'worker/main.ts'],
      ['gateway', 'client/gateway/main.ts'],
    ] as const) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, entry)], {
        env,
        stdio: 'inherit',
      });
      child.once('exit', (code) => {
        if (!stopping) {
          log(`${name} exited with ${code}; stopping the rest`);
          void stop(code || 1);
        }
      });
      children.push(child);
    }
    watch(temporal, db ? env.DATABASE_URL : undefined);
    log(`gateway: http://127.0.0.1:${env.GATEWAY_PORT ?? 8088} (POST /alertmanager, GET /incidents)`);
    log('Ctrl-C stops everything.');
  } catch (err) {
    console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
  }

  /**
   * A part this process started that stops answering (three checks in a row, 2 s apart) is named,
   * and the rest stops with it: never a worker and gateway left running against a dead server.
   */
  function watch(server: TestWorkflowEnvironment | undefined, databaseUrl: string | undefined): void {
    if (databaseUrl) {
      probes = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 2_000 });
      probes.on('error', () => undefined);
    }
    let misses = 0;
    watchdog = setInterval(async () => {
      const down = [
        server &&
          (await server.connection.workflowService.getSystemInfo({}).then(
            () => undefined,
            () => 'the Temporal dev server',
          )),
        probes &&
          (await probes.query('SELECT 1').then(
            () => undefined,
            () => 'the embedded Postgres',
          )),
      ].filter((part): part is string => Boolean(part));
      misses = down.length ? misses + 1 : 0;
      if (misses < 3 || stopping) return;
      log(`${down.join(' and ')} stopped answering; stopping the rest`);
      void stop(1);
    }, 2_000);
  }
}

function within(ms: number, work: Promise<unknown> | undefined): Promise<unknown> {
  return Promise.race([work?.catch(() => undefined), new Promise((r) => setTimeout(r, ms))]);
}

void main();
