// `npm run bench`: alert ingest through the real gateway against raw `client.workflow.start` on the
// same Temporal dev server, in one run. Four measured phases, each a fixed count at a fixed
// concurrency:
//   raw start          client.workflow.start of apiErrorBudget, the gateway's exact options, new ids
//   gateway new        POST /alertmanager, one firing alert per request, a unique groupKey each
//   gateway join       the same payloads again: each joins its open incident (start fails, signal)
//   raw join           start → WorkflowExecutionAlreadyStarted → signal `alert`, on the raw phase's ids
// No worker runs: ingest latency is Temporal accepting the start (or signal), not running it, and
// the started workflows just wait on the task queue until the server is torn down.
//
//   npm run bench -- [--count 500] [--concurrency 16] [--warmup 50]
// DATABASE_URL, when set, is used instead of an embedded Postgres; Temporal is always a fresh
// in-memory dev server on a free port, so figures do not depend on someone else's history.
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { Pool } from 'pg';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../config/load';
import { Router } from '../config/routing';
import { migrate } from '../activities/db/migrate';
import { IncidentStore } from '../activities/db/incident-store';
import { createGateway } from '../client/gateway/server';
import { incidentKey, Incidents } from '../client/incidents';
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from '../dev/postgres';
import { startDevServer } from '../dev/temporal-binaries';
import {
  alertSignal,
  incidentWorkflowId,
  SA,
  SEARCH_ATTRIBUTES,
  WORKFLOW_TYPES,
  type AlertEvent,
  type RunbookInput,
} from '../workflows/definitions';

const log = (line: string) => console.error(`[bench] ${line}`);

interface Options {
  count: number;
  concurrency: number;
  warmup: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { count: 500, concurrency: 16, warmup: 50 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const name = flag.replace(/^--/, '');
    if (!(name in opts) || !flag.startsWith('--'))
      throw new Error(`unknown argument ${flag}: expected --count N, --concurrency N, --warmup N`);
    const value = Number(argv[++i]);
    if (!Number.isInteger(value) || value < (name === 'warmup' ? 0 : 1))
      throw new Error(`${flag} needs a positive integer, got ${argv[i]}`);
    opts[name as keyof Options] = value;
  }
  return opts;
}

// ---- measuring -------------------------------------------------------------------------------

interface PhaseResult {
  phase: string;
  count: number;
  concurrency: number;
  wallMs: number;
  latencies: number[];
  errors: string[];
}

/** Runs `op(i)` for i in [0, count) with `concurrency` in flight; times each call and the whole. */
async function measure(
  phase: string,
  count: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<PhaseResult> {
  const latencies: number[] = [];
  const errors: string[] = [];
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) {
      const t0 = performance.now();
      try {
        await op(i);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors.push(`#${i}: ${(err as Error).message}`);
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { phase, count, concurrency, wallMs: performance.now() - start, latencies, errors };
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function table(results: PhaseResult[]): string {
  const head = ['phase', 'count', 'conc', 'wall s', 'per s', 'p50 ms', 'p99 ms', 'max ms', 'errors'];
  const rows = results.map((r) => {
    const sorted = [...r.latencies].sort((a, b) => a - b);
    return [
      r.phase,
      String(r.count),
      String(r.concurrency),
      (r.wallMs / 1000).toFixed(2),
      ((r.count - r.errors.length) / (r.wallMs / 1000)).toFixed(0),
      percentile(sorted, 0.5).toFixed(1),
      percentile(sorted, 0.99).toFixed(1),
      (sorted[sorted.length - 1] ?? NaN).toFixed(1),
      String(r.errors.length),
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ') + ' |';
  return [
    line(head),
    '|' + widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|',
    ...rows.map(line),
  ].join('\n');
}

// ---- what is sent ----------------------------------------------------------------------------

const RUN = randomUUID().slice(0, 8);
const SERVICE = 'api';
const ENVIRONMENT = 'bench';

function groupKey(phase: string, i: number): string {
  return `{}:{alertname="ApiErrorRate", bench="${RUN}-${phase}-${i}"}`;
}

function alertLabels(phase: string, i: number): Record<string, string> {
  return {
    alertname: 'ApiErrorRate',
    service: SERVICE,
    environment: ENVIRONMENT,
    severity: 'critical',
    bench: `${RUN}-${phase}-${i}`,
  };
}

/** An Alertmanager webhook v4 body with one firing alert, as Alertmanager sends it. */
function webhookBody(phase: string, i: number): string {
  const labels = alertLabels(phase, i);
  return JSON.stringify({
    version: '4',
    groupKey: groupKey(phase, i),
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'runbooks',
    groupLabels: { alertname: 'ApiErrorRate', bench: labels.bench },
    commonLabels: labels,
    commonAnnotations: { summary: '5xx rate above 1%' },
    externalURL: 'http://alertmanager.bench:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: '5xx rate above 1%' },
        startsAt: '2026-01-01T03:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.bench:9090/graph',
        fingerprint: `${RUN}${i.toString(16).padStart(8, '0')}`,
      },
    ],
  });
}

/** The workflow input and start options the gateway would build for the same alert. */
function rawStart(incidents: Incidents, router: Router, taskQueue: string, phase: string, i: number) {
  const labels = alertLabels(phase, i);
  const route = router.route(labels);
  if (route.runbook !== 'api-error-budget')
    throw new Error(`the default config routes ApiErrorRate to ${route.runbook ?? 'nothing'}, not api-error-budget`);
  const alert: AlertEvent = {
    key: `${RUN}${i.toString(16).padStart(8, '0')}`,
    status: 'firing',
    alertname: labels.alertname,
    labels,
    annotations: { summary: '5xx rate above 1%' },
    startsAt: '2026-01-01T03:00:00Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus.bench:9090/graph',
  };
  const key = incidentKey(groupKey(phase, i), ENVIRONMENT);
  const input: RunbookInput = incidents.buildInput(
    {
      runbook: 'api-error-budget',
      key,
      service: SERVICE,
      environment: ENVIRONMENT,
      severity: 'P1',
      alert,
      source: 'alertmanager',
      startedBy: 'alertmanager (runbooks)',
    },
    key,
    route.params,
  );
  const workflowId = incidentWorkflowId('api-error-budget', key);
  // Mirrors Incidents.start, so the server does the same work per start as for the gateway.
  const options: WorkflowStartOptions = {
    taskQueue,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    staticSummary: `api-error-budget · ${SERVICE}/${ENVIRONMENT} · ${alert.alertname}`,
    staticDetails: `Runbook api-error-budget for ${SERVICE} in ${ENVIRONMENT}, severity ${input.severity}.`,
    typedSearchAttributes: new TypedSearchAttributes([
      { key: SA.runbookId, value: 'api-error-budget' },
      { key: SA.severity, value: input.severity },
      { key: SA.status, value: 'triage' },
      { key: SA.alertName, value: alert.alertname },
      { key: SA.service, value: SERVICE },
      { key: SA.environment, value: ENVIRONMENT },
      { key: SA.awaitingApproval, value: false },
    ]),
  };
  return { workflowId, alert, options };
}

interface AlertmanagerAnswer {
  alerts: { outcome: string; workflowId?: string; reason?: string }[];
}

/** POSTs one webhook body; resolves once the whole answer is read, rejects unless it is 200 with `expected`. */
function post(agent: http.Agent, port: number, body: string, expected: 'started' | 'joined'): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/alertmanager',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          const answer = JSON.parse(text) as AlertmanagerAnswer;
          const outcome = answer.alerts[0];
          if (outcome?.outcome !== expected)
            return reject(new Error(`expected ${expected}, got ${JSON.stringify(outcome)}`));
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// ---- the run ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    // Last started, first stopped; a failing step must not keep the rest (Postgres, Temporal) alive.
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: Error) => log(`teardown: ${err.message}`));
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: tearing down`);
      void cleanup().then(() => process.exit(130));
    });
  }

  try {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'runbooks-bench-'));
    // As root, embedded Postgres runs as its own `postgres` user, which must reach the data folder.
    chmodSync(scratch, 0o755);
    cleanups.push(async () => rmSync(scratch, { recursive: true, force: true }));

    const temporal = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES, log });
    cleanups.push(() => temporal.env.teardown());
    const address = temporal.env.connection.options.address;
    log(`Temporal dev server (${temporal.binary}) on ${address}`);

    let databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) {
      const db: EmbeddedDatabase = await startEmbeddedPostgres(path.join(scratch, 'postgres'), 'runbooks_bench', 0);
      cleanups.push(() => db.stop());
      databaseUrl = db.url;
      log(`embedded Postgres on ${db.url}`);
    } else {
      log('Postgres at DATABASE_URL');
    }
    // The production gateway's pool size (activities/db/pools.ts), so receipt writes queue the same way.
    const pool = new Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: 5_000 });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    await migrate(pool, 'store');
    await migrate(pool, 'telemetry');
    const store = IncidentStore.create(pool);

    // One client for both the gateway and the baseline: the same gRPC connection, the same server.
    const connection = await Connection.connect({ address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: 'default' });

    // The shipped config file's routes, with no environment overlay, so runs are comparable.
    const config = loadConfig(DEFAULT_CONFIG_PATH, {});
    const router = Router.fromConfig(config);
    const taskQueue = `bench-${RUN}`;
    const incidents = Incidents.create(client, config, taskQueue);
    const gatewayLog: string[] = [];
    const server = createGateway({ client, config, store, taskQueue, log: (line) => gatewayLog.push(line) });
    const gatewayPort = await freePort();
    await new Promise<void>((resolve) => server.listen(gatewayPort, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    log(`gateway on http://127.0.0.1:${(server.address() as AddressInfo).port}, task queue ${taskQueue}, no worker`);

    const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
    cleanups.push(async () => agent.destroy());
    const type = WORKFLOW_TYPES['api-error-budget']!;
    const rawStartOf = (phase: string, i: number) => rawStart(incidents, router, taskQueue, phase, i);

    // Warm-up, not measured: JIT, the gRPC channel, the Postgres pool's connections, keep-alive sockets.
    if (opts.warmup > 0) {
      log(`warm-up: ${opts.warmup} raw starts and ${opts.warmup} gateway posts`);
      const w1 = await measure(
        'warm-up raw',
        opts.warmup,
        opts.concurrency,
        async (i) => void (await client.workflow.start(type, rawStartOf('warm-raw', i).options)),
      );
      const w2 = await measure('warm-up gateway', opts.warmup, opts.concurrency, (i) =>
        post(agent, gatewayPort, webhookBody('warm-gw', i), 'started'),
      );
      const warmErrors = [...w1.errors, ...w2.errors];
      if (warmErrors.length) throw new Error(`warm-up failed: ${warmErrors.slice(0, 3).join('; ')}`);
    }

    const { count, concurrency } = opts;
    const results: PhaseResult[] = [];
    const run = async (phase: string, op: (i: number) => Promise<void>) => {
      log(`${phase}: ${count} at concurrency ${concurrency}`);
      results.push(await measure(phase, count, concurrency, op));
    };
    // Build the raw inputs outside the timed call for the start phase; the gateway builds its own inside.
    const rawNew = Array.from({ length: count }, (_, i) => rawStartOf('raw', i));
    await run('raw start (baseline)', async (i) => void (await client.workflow.start(type, rawNew[i].options)));
    await run('gateway POST → started', (i) => post(agent, gatewayPort, webhookBody('gw', i), 'started'));
    await run('gateway POST → joined', (i) => post(agent, gatewayPort, webhookBody('gw', i), 'joined'));
    // What the gateway's join does in Temporal, without HTTP, validation or the receipt.
    await run('raw start→signal (join baseline)', async (i) => {
      const { workflowId, alert, options } = rawNew[i];
      try {
        await client.workflow.start(type, options);
        throw new Error(`${workflowId} started again instead of joining`);
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      await client.workflow.getHandle(workflowId).signal(alertSignal, alert);
    });

    // Every gateway request left one receipt; the count proves the gateway did its full work.
    const receipts = await pool.query<{ outcome: string; n: string }>(
      `SELECT outcome, count(*) AS n FROM alert_receipts WHERE labels->>'bench' LIKE $1 GROUP BY outcome ORDER BY outcome`,
      [`${RUN}-gw-%`],
    );

    console.log('');
    console.log(
      `Alert ingest: ${count} requests per phase, concurrency ${concurrency}, ${os.cpus().length} CPUs, node ${process.version}`,
    );
    console.log('');
    console.log(table(results));
    console.log('');
    const [raw, gwNew, gwJoin, rawJoin] = results.map((r) => [...r.latencies].sort((a, b) => a - b));
    const ratio = (a: PhaseResult, b: PhaseResult) => (a.count / a.wallMs / (b.count / b.wallMs)).toFixed(2);
    console.log(
      `gateway new vs raw start: ${ratio(results[1], results[0])}x the throughput, p50 +${(percentile(gwNew, 0.5) - percentile(raw, 0.5)).toFixed(1)} ms`,
    );
    console.log(
      `gateway join vs raw start→signal: ${ratio(results[2], results[3])}x the throughput, p50 +${(percentile(gwJoin, 0.5) - percentile(rawJoin, 0.5)).toFixed(1)} ms`,
    );
    console.log(
      `alert receipts stored for the measured gateway phases: ${receipts.rows.map((r) => `${r.outcome} ${r.n}`).join(', ') || 'none'}`,
    );
    if (gatewayLog.length) console.log(`gateway logged ${gatewayLog.length} line(s), first: ${gatewayLog[0]}`);

    const failed = results.filter((r) => r.errors.length > 0);
    for (const r of failed) log(`${r.phase}: ${r.errors.length} failed, first: ${r.errors[0]}`);
    process.exitCode = failed.length > 0 ? 1 : 0;
  } finally {
    log('tearing down');
    await cleanup();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(`[bench] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
