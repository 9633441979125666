// What a test file needs on the shared local services: its own task queue, a worker built by the
// production factory, a client, the incident store, and config from a plain object.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { Pool } from 'pg';
import type { RunbookDocument } from '../../catalogue/document';
import { loadDocument } from '../../catalogue/load';
import { parseConfig } from '../../config/load';
import type { Config, ConfigInput } from '../../config/schema';
import { IncidentStore } from '../../activities/db/incident-store';
import { drillPools, survivesDisconnects } from '../../activities/db/pools';
import type { Deps } from '../../activities';
import { buildWorker, WORKFLOWS_PATH } from '../../worker/build';
import { slackClient } from '../../worker/deps';
import { Incidents } from '../../client/incidents';
import { secret } from './secrets';

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\`, which starts the shared services`);
  return value;
}

/** The activities' dependencies on the test's Postgres: the store's pool, and the telemetry's (the same unless given). */
export function testDeps(config: Config, pool: Pool, env: NodeJS.ProcessEnv, telemetry: Pool = pool): Deps {
  return {
    config,
    store: IncidentStore.create(pool),
    telemetry,
    storeDb: pool,
    drillTelemetry: drillPools(pool),
    env,
    slack: slackClient(env),
  };
}

/**
 * The workflow code for a test's workers: the bundle `npm test` made once for the whole suite
 * (TEST_WORKFLOW_BUNDLE), or, when a file runs on its own without it, bundled by each worker.
 */
export function workflowCode(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const codePath = process.env.TEST_WORKFLOW_BUNDLE;
  return codePath ? { workflowBundle: { codePath } } : { workflowsPath: WORKFLOWS_PATH };
}

/** A worker on a time-skipping test server's queue of its own, with the client side to start incidents. */
export async function startTestServerWorker(
  env: TestWorkflowEnvironment,
  config: Config,
  pool: Pool,
  workerEnv: NodeJS.ProcessEnv,
): Promise<{ incidents: Incidents; stop(): Promise<void> }> {
  const taskQueue = `ts-${randomUUID().slice(0, 8)}`;
  const worker = await buildWorker(
    testDeps(config, pool, workerEnv),
    env.nativeConnection,
    env.namespace ?? 'default',
    { taskQueue, ...workflowCode() },
  );
  const running = worker.run();
  return {
    incidents: Incidents.create(env.client as Client, config, taskQueue, workerEnv.DECISION_SIGNING_KEY),
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

export interface Harness {
  taskQueue: string;
  config: Config;
  pool: Pool;
  store: IncidentStore;
  client: Client;
  incidents: Incidents;
  env: NodeJS.ProcessEnv;
  /** The worker's documents in place of catalogue/runbooks/<id>.md: a test's own document for a runbook id. */
  documents: Map<string, RunbookDocument>;
  startWorker(): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

export async function createHarness(
  name: string,
  configInput: ConfigInput,
  env: NodeJS.ProcessEnv = {},
  opts: { telemetryUrl?: string } = {},
): Promise<Harness> {
  const taskQueue = `test-${name}-${randomUUID().slice(0, 8)}`;
  const config = parseConfig(configInput, 'test config', env);
  const pool = survivesDisconnects(new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 10 }));
  const store = IncidentStore.create(pool);
  const address = requireEnv('TEMPORAL_ADDRESS');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  // The tests decide as the gateway does: `authenticated: true` is proven with the worker's key.
  const signingKey = env.DECISION_SIGNING_KEY ?? secret('DECISION_SIGNING_KEY');
  const workerEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DECISION_SIGNING_KEY: signingKey, ...env };
  // The LLM app's database: the store's unless a test gives its own (or an unreachable one).
  const telemetry = opts.telemetryUrl
    ? survivesDisconnects(new Pool({ connectionString: opts.telemetryUrl, max: 5, connectionTimeoutMillis: 3_000 }))
    : pool;
  const documents = new Map<string, RunbookDocument>();
  const deps: Deps = {
    ...testDeps(config, pool, workerEnv, telemetry),
    documents: (id) => documents.get(id) ?? loadDocument(id),
  };
  const workers: RunningWorker[] = [];
  let nativeConnection: NativeConnection | undefined;
  return {
    taskQueue,
    config,
    pool,
    store,
    client,
    incidents: Incidents.create(client, config, taskQueue, signingKey),
    env: workerEnv,
    documents,
    async startWorker() {
      nativeConnection ??= await NativeConnection.connect({ address });
      const worker = await buildWorker(deps, nativeConnection, 'default', { taskQueue, ...workflowCode() });
      const running = worker.run();
      const handle = {
        worker,
        async stop() {
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await running;
        },
      };
      workers.push(handle);
      return handle;
    },
    async close() {
      for (const w of workers) await w.stop().catch(() => undefined);
      await nativeConnection?.close();
      await connection.close();
      await pool.end();
      if (telemetry !== pool) await telemetry.end();
    },
  };
}

// Worker logs (the bundler's report included) only from WARN up, so test output stays readable.
Runtime.install({ logger: new DefaultLogger('WARN') });

export interface RecordedHistory {
  workflowId: string;
  history: unknown;
}

export const HISTORIES_DIR = path.join(__dirname, '..', 'replay', 'histories');

/**
 * With RECORD_HISTORIES=1, saves a finished workflow's history as a replay fixture
 * (`RECORD_HISTORIES=1 npm test`, then commit test/replay/histories).
 */
export async function recordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  // Replay needs the original workflow id too: child ids and the like are derived from it.
  const fixture: RecordedHistory = { workflowId, history: JSON.parse(historyToJSON(history)) };
  writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(fixture, null, 1)}\n`);
}

/** Polls until `check` returns a value other than undefined, or fails naming what it waited for. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
