// `npm run bench:ingest` (with bench:telemetry, `npm run bench`): alert ingest through the real gateway against raw `client.workflow.start` on the
// same Temporal dev server, in one run. Four measured phases, each a fixed count at a fixed
// concurrency:
//   raw start           client.workflow.start of apiErrorBudget with the gateway's exact options, new ids
//   gateway new         POST /alertmanager, one firing alert per request, a unique groupKey each
//   gateway join        the same payloads again: each joins its open incident (start fails, then signal)
//   raw start→signal    the same two RPCs without the gateway, on the raw phase's ids
// No worker runs: ingest latency is Temporal accepting the start (or signal), not running it; the
// started workflows wait on the task queue until the server is torn down.
//
// The phases run in several rounds, in alternating order, so a burst of load from elsewhere on the
// machine or a server that slows as it fills does not land on one side of the comparison only.
//
//   npm run bench:ingest -- [--count 500] [--concurrency 16] [--rounds 3] [--warmup 50]
// DATABASE_URL, when set, is used instead of an embedded Postgres. Temporal is always a fresh
// in-memory dev server on a free port, so the figures do not depend on anyone else's history.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
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
import { freePort } from '../dev/postgres';
import {
  alertSignal,
  incidentWorkflowId,
  SA,
  WORKFLOW_TYPES,
  type AlertEvent,
  type RunbookInput,
} from '../workflows/definitions';
import {
  ANNOTATIONS,
  benchAlert,
  descendants,
  ENDS_AT,
  ENVIRONMENT,
  GENERATOR_URL,
  machineBusyMs,
  percentile,
  postJson,
  readProcs,
  SERVICE,
  startStack,
  table,
  Teardown,
  type AlertmanagerAnswer,
} from './stack';

const log = (line: string) => console.error(`[bench] ${line}`);
/** `teardown.stopping` is set on SIGINT / SIGTERM: no new requests while the services are torn down. */
const teardown = new Teardown(log);

interface Options {
  count: number;
  concurrency: number;
  rounds: number;
  warmup: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { count: 500, concurrency: 16, rounds: 3, warmup: 50 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const name = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || !(name in opts))
      throw new Error(`unknown argument ${flag}: expected --count N, --concurrency N, --rounds N, --warmup N`);
    const value = Number(argv[++i]);
    if (!Number.isInteger(value) || value < (name === 'warmup' ? 0 : 1))
      throw new Error(`${flag} needs a positive integer, got ${argv[i]}`);
    opts[name as keyof Options] = value;
  }
  return opts;
}

// ---- CPU by process --------------------------------------------------------------------------
// On 2 cores the load generator, the gateway, the Temporal server and Postgres compete for CPU;
// per-request CPU of each says which one the wall time is spent in. Linux /proc only.

// machine: busy CPU of the whole box (all processes, all cores), to show how much went to others.
type CpuSample = { bench: number; temporal: number; postgres: number; machine: number };

function processTreeCpu(): CpuSample | undefined {
  const procs = readProcs();
  if (!procs) return undefined;
  const sample: CpuSample = {
    bench: procs.get(process.pid)?.cpuMs ?? 0,
    temporal: 0,
    postgres: 0,
    machine: machineBusyMs(),
  };
  // Only our own Temporal server and Postgres count, not anyone else's.
  for (const p of descendants(procs)) {
    if (p.comm.startsWith('temporal')) sample.temporal += p.cpuMs;
    else if (p.comm.startsWith('postgres')) sample.postgres += p.cpuMs;
  }
  return sample;
}

// ---- measuring -------------------------------------------------------------------------------

interface Run {
  count: number;
  wallMs: number;
  latencies: number[];
  errors: string[];
  cpu?: CpuSample;
}

/** Runs `op(i)` for i in [0, count) with `concurrency` in flight; times each call and the whole. */
async function measure(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Run> {
  const latencies: number[] = [];
  const errors: string[] = [];
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count && !teardown.stopping; i = next++) {
      const t0 = performance.now();
      try {
        await op(i);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors.push(`#${i}: ${(err as Error).message}`);
      }
    }
  };
  const cpu0 = processTreeCpu();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  const wallMs = performance.now() - start;
  const cpu1 = processTreeCpu();
  const cpu =
    cpu0 && cpu1
      ? {
          bench: cpu1.bench - cpu0.bench,
          temporal: cpu1.temporal - cpu0.temporal,
          postgres: cpu1.postgres - cpu0.postgres,
          machine: cpu1.machine - cpu0.machine,
        }
      : undefined;
  return { count, wallMs, latencies, errors, cpu };
}

class Phase {
  readonly runs: Run[] = [];
  constructor(readonly name: string) {}
  get count() {
    return this.runs.reduce((n, r) => n + r.count, 0);
  }
  get wallMs() {
    return this.runs.reduce((n, r) => n + r.wallMs, 0);
  }
  get errors() {
    return this.runs.flatMap((r) => r.errors);
  }
  get sorted() {
    return this.runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  }
  /** Completed requests per second of measured wall time, over all rounds. */
  get rate() {
    return (this.count - this.errors.length) / (this.wallMs / 1000);
  }
  cpuPerRequest(which: keyof CpuSample): number {
    if (this.runs.some((r) => !r.cpu)) return NaN;
    return this.runs.reduce((n, r) => n + r.cpu![which], 0) / this.count;
  }
}

const ms = (x: number) => x.toFixed(1);
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

// ---- what is sent ----------------------------------------------------------------------------

const RUN = randomUUID().slice(0, 8);
const webhookBody = (tag: string, i: number) => benchAlert(RUN, tag, i).body;

interface RawStart {
  workflowId: string;
  alert: AlertEvent;
  options: WorkflowStartOptions;
}

/** The workflow input and start options the gateway builds for the same alert (Incidents.start). */
function rawStart(incidents: Incidents, router: Router, taskQueue: string, tag: string, i: number): RawStart {
  const { labels, groupKey, fingerprint, startsAt } = benchAlert(RUN, tag, i);
  const route = router.route(labels);
  if (route.runbook !== 'api-error-budget')
    throw new Error(`the default config routes ApiErrorRate to ${route.runbook ?? 'nothing'}, not api-error-budget`);
  const alert: AlertEvent = {
    key: fingerprint,
    status: 'firing',
    alertname: labels.alertname,
    labels,
    annotations: ANNOTATIONS,
    startsAt,
    endsAt: ENDS_AT,
    generatorURL: GENERATOR_URL,
  };
  const key = incidentKey(groupKey, ENVIRONMENT);
  const input: RunbookInput = incidents.buildInput(
    {
      runbook: 'api-error-budget',
      key,
      service: SERVICE,
      environment: ENVIRONMENT,
      severity: 'P1', // the gateway's mapping of severity=critical
      alert,
      source: 'alertmanager',
      startedBy: 'alertmanager (runbooks)',
    },
    key,
    route.params,
  );
  const workflowId = incidentWorkflowId('api-error-budget', key);
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

/** POSTs one webhook body; resolves once the whole answer is read, rejects unless 200 with `expected`. */
async function post(agent: http.Agent, port: number, body: string, expected: 'started' | 'joined'): Promise<void> {
  const { status, text } = await postJson(agent, port, '/alertmanager', body);
  if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 300)}`);
  const outcome = (JSON.parse(text) as AlertmanagerAnswer).alerts[0];
  if (outcome?.outcome !== expected) throw new Error(`expected ${expected}, got ${JSON.stringify(outcome)}`);
}

/** start must fail with AlreadyStarted, then the alert is signalled: what the gateway's join does in Temporal. */
async function rawJoin(client: Client, type: string, s: RawStart): Promise<void> {
  try {
    await client.workflow.start(type, s.options);
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await client.workflow.getHandle(s.workflowId).signal(alertSignal, s.alert);
    return;
  }
  throw new Error(`${s.workflowId} started again instead of joining`);
}

// ---- the run ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  teardown.onSignals();

  try {
    const { address, databaseUrl } = await startStack(teardown, log, 'runbooks_bench');
    // The production gateway's pool size (activities/db/pools.ts), so receipt writes queue the same way.
    const pool = new Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: 5_000 });
    pool.on('error', () => undefined);
    teardown.add(() => pool.end());
    await migrate(pool, 'store');
    await migrate(pool, 'telemetry');
    const store = IncidentStore.create(pool);

    // One client for the gateway and the baseline: the same gRPC connection to the same server.
    const connection = await Connection.connect({ address });
    teardown.add(() => connection.close());
    const client = new Client({ connection, namespace: 'default' });

    // The shipped config file's routes, with no environment overlay, so runs are comparable.
    const config = loadConfig(DEFAULT_CONFIG_PATH, {});
    const router = Router.fromConfig(config);
    const taskQueue = `bench-${RUN}`;
    const incidents = Incidents.create(client, config, taskQueue);
    const gatewayLog: string[] = [];
    const server = createGateway({ client, config, store, taskQueue, log: (line) => gatewayLog.push(line) });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    teardown.add(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    log(`gateway on http://127.0.0.1:${port}, task queue ${taskQueue}, no worker`);

    const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
    teardown.add(async () => agent.destroy());
    const type = WORKFLOW_TYPES['api-error-budget']!;
    const raw = (tag: string, i: number) => rawStart(incidents, router, taskQueue, tag, i);
    const { count, concurrency, rounds } = opts;

    // Warm-up, not measured: JIT, the gRPC channel, the Postgres pool's connections, keep-alive sockets.
    if (opts.warmup > 0) {
      log(`warm-up: ${opts.warmup} raw starts and ${opts.warmup} gateway posts`);
      const w1 = await measure(opts.warmup, concurrency, (i) =>
        client.workflow.start(type, raw('warm', i).options).then(() => undefined),
      );
      const w2 = await measure(opts.warmup, concurrency, (i) =>
        post(agent, port, webhookBody('warm-gw', i), 'started'),
      );
      const warmErrors = [...w1.errors, ...w2.errors];
      if (warmErrors.length) throw new Error(`warm-up failed: ${warmErrors.slice(0, 3).join('; ')}`);
    }

    const rawNew = new Phase('raw client.workflow.start');
    const gwNew = new Phase('gateway POST → started');
    const gwJoin = new Phase('gateway POST → joined');
    const rawJoinPhase = new Phase('raw start→signal (join)');
    for (let round = 0; round < rounds && !teardown.stopping; round++) {
      // Inputs for the raw phases are built before the clock starts; the gateway builds its own inside.
      const starts = Array.from({ length: count }, (_, i) => raw(`raw${round}`, i));
      const steps: [Phase, (i: number) => Promise<void>][] = [
        [rawNew, (i) => client.workflow.start(type, starts[i].options).then(() => undefined)],
        [gwNew, (i) => post(agent, port, webhookBody(`gw${round}`, i), 'started')],
        [gwJoin, (i) => post(agent, port, webhookBody(`gw${round}`, i), 'joined')],
        [rawJoinPhase, (i) => rawJoin(client, type, starts[i])],
      ];
      // Odd rounds swap the order within each pair, so neither side always runs first.
      const order = round % 2 === 0 ? [0, 1, 2, 3] : [1, 0, 3, 2];
      for (const k of order) {
        const [phase, op] = steps[k];
        log(`round ${round + 1}/${rounds}: ${phase.name}, ${count} at concurrency ${concurrency}`);
        phase.runs.push(await measure(count, concurrency, op));
      }
    }

    // Every gateway request leaves one receipt; the count shows the gateway did all of its work.
    const receipts = await pool.query<{ outcome: string; n: string }>(
      `SELECT outcome, count(*) AS n FROM alert_receipts WHERE labels->>'bench' LIKE $1 GROUP BY outcome ORDER BY outcome`,
      [`${RUN}-gw%`],
    );

    const phases = [rawNew, gwNew, gwJoin, rawJoinPhase];
    console.log('');
    console.log(
      `Alert ingest, ${rounds} round(s) of ${count} per phase at concurrency ${concurrency}; ` +
        `${os.cpus().length} CPUs, node ${process.version}`,
    );
    console.log('');
    console.log(
      table(
        ['phase', 'count', 'conc', 'wall s', 'per s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'per s by round'],
        phases.map((p) => {
          const s = p.sorted;
          return [
            p.name,
            String(p.count),
            String(concurrency),
            (p.wallMs / 1000).toFixed(2),
            p.rate.toFixed(0),
            ms(percentile(s, 0.5)),
            ms(percentile(s, 0.99)),
            ms(s[s.length - 1] ?? NaN),
            String(p.errors.length),
            p.runs.map((r) => (r.count / (r.wallMs / 1000)).toFixed(0)).join(' / '),
          ];
        }),
      ),
    );
    console.log('');
    console.log('CPU time per request, ms (this process = load generator + gateway + Temporal client):');
    console.log('');
    console.log(
      table(
        ['phase', 'this process', 'temporal server', 'postgres'],
        phases.map((p) => [
          p.name,
          p.cpuPerRequest('bench').toFixed(2),
          p.cpuPerRequest('temporal').toFixed(2),
          p.cpuPerRequest('postgres').toFixed(2),
        ]),
      ),
    );
    console.log('');
    const p50 = (p: Phase) => percentile(p.sorted, 0.5);
    console.log(
      `gateway new vs raw start:          ${(gwNew.rate / rawNew.rate).toFixed(2)}x the throughput, p50 ${signed(p50(gwNew) - p50(rawNew))} ms`,
    );
    console.log(
      `gateway join vs raw start→signal:  ${(gwJoin.rate / rawJoinPhase.rate).toFixed(2)}x the throughput, p50 ${signed(p50(gwJoin) - p50(rawJoinPhase))} ms`,
    );
    console.log(
      `alert receipts stored by the measured gateway phases: ${receipts.rows.map((r) => `${r.outcome} ${r.n}`).join(', ') || 'none'}`,
    );
    const runs = phases.flatMap((p) => p.runs);
    if (runs.every((r) => r.cpu)) {
      // Other processes on a shared machine take CPU from the figures above; this says how much.
      const wall = runs.reduce((n, r) => n + r.wallMs, 0);
      const sum = (f: (c: CpuSample) => number) => runs.reduce((n, r) => n + f(r.cpu!), 0);
      const ours = sum((c) => c.bench + c.temporal + c.postgres);
      const machine = sum((c) => c.machine);
      console.log(
        `CPU in use during the measured phases, in cores of ${os.cpus().length}: this benchmark's processes ` +
          `${(ours / wall).toFixed(2)}, everything else ${(Math.max(0, machine - ours) / wall).toFixed(2)}`,
      );
    }
    if (gatewayLog.length) console.log(`gateway logged ${gatewayLog.length} line(s), first: ${gatewayLog[0]}`);

    const failed = phases.filter((p) => p.errors.length > 0);
    for (const p of failed) log(`${p.name}: ${p.errors.length} failed, first: ${p.errors[0]}`);
    process.exitCode = failed.length > 0 ? 1 : 0;
  } finally {
    log('tearing down');
    await teardown.run();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(`[bench] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
