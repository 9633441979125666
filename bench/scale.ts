// `npm run bench:scale`: incidents from alert to closed at scale, on a stack of its own. It starts a
// fresh Temporal dev server (in-memory, free port) and an embedded Postgres (bench/stack.ts, as
// bench/ingest.ts does), then the product's own processes as children, so their memory and CPU are
// measured apart: ONE worker (`worker/main.ts`) and the gateway (`client/gateway/main.ts`).
//
//   1. alert → waiting: N firing `ApiErrorRate` alerts, each with a group key of its own (so each is
//      a new api-error-budget incident), are POSTed to /alertmanager at a fixed rate, open loop
//      (a slow answer does not delay the next POST). No data source is configured, so each incident
//      pages on-call (not delivered), reads every source as unavailable, diagnoses
//      `insufficient_data` and asks responders at `manual-mitigation`. An incident counts as
//      waiting once the visibility list shows it `IncidentStatus = "awaiting_approval"` and its
//      `state` query has `manual-mitigation` pending (the status alone is also briefly true at the
//      page's acknowledgement, before the diagnostics).
//   2. decided → closed: each waiting incident is decided through `Incidents.decide` (the update the
//      gateway and CLI use), as a responder would: `acknowledge` the page, then `manual-mitigation`
//      `done`. The validation window then runs (15 checks, as the document's 15 min at 1 min, over
//      `--window`: the bench's config shortens it), has no 5xx ratio to read, and asks; the bench
//      answers `validate-error-ratio` `confirm`, and the incident records itself and closes.
//
// Printed: POST latency (p50/p95/p99/max), incidents per second in each phase, the worker's, the
// gateway's and the Temporal server's RSS (sampled every second: max, and with all N open) and CPU
// seconds per incident (/proc/<pid>/stat utime + stime of each child), history events and Temporal
// actions per incident (from `--sample` histories), and whatever failed or got stuck, with ids.
//
// How actions are counted. Temporal Cloud bills "actions" (https://docs.temporal.io/cloud/actions):
// workflow starts (a child's start counts two), activity attempts, timers (also the implicit one
// of `condition` with a timeout), signals, search-attribute upserts (a `TemporalChangeVersion`-only
// upsert, written by `patched()`, is exempt), queries, updates (accepted or rejected), local
// activities (all of one workflow task count one), heartbeats. This bench counts from each sampled
// history, one action per:
//   WorkflowExecutionStarted                       1 (the gateway's start)
//   ActivityTaskScheduled                          its attempts (ActivityTaskStarted.attempt; 1 when not started)
//   TimerStarted                                   1
//   WorkflowExecutionSignaled                      1
//   UpsertWorkflowSearchAttributes                 1, unless it sets only TemporalChangeVersion
//   MarkerRecorded core_local_activity             1 per workflow task that recorded any
//   StartChildWorkflowExecutionInitiated           2 (the child's start and its execution)
//   WorkflowExecutionUpdateAccepted                1
// Not in a history and so not counted: queries (the bench's own `state` queries are its own cost,
// not the product's) and rejected updates. "Up to waiting" is the history taken once the incident
// waits at manual-mitigation with no activity pending, cut before the first TimerFired (a deadline
// that passed: paging the next tier is past waiting). "Alert to closed" is the whole history.
//
//   npm run bench:scale -- [--incidents 300] [--rate 50] [--sample 50] [--window 60s]
//                          [--concurrency 8] [--stuck-after 60]
// --incidents 10000 is the full run (with --window 15m for the document's own window).
// DATABASE_URL, when set, is used instead of an embedded Postgres. Linux only (/proc).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common';
import { Pool } from 'pg';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../config/load';
import { migrateAll } from '../activities/db/migrate';
import { DecisionRefused, Incidents } from '../client/incidents';
import { freePort } from '../dev/postgres';
import { PROJECT_ROOT } from '../dev/temporal-binaries';
import { toMs } from '../workflows/toolkit/duration';
import { MAINTENANCE_RUNBOOKS, SA, WORKFLOW_TYPES, type DecisionInput } from '../workflows/definitions';
import {
  benchAlert,
  descendants,
  machineBusyMs,
  percentile,
  postJson,
  readProc,
  readProcs,
  startStack,
  table,
  Teardown,
  type AlertmanagerAnswer,
  type Proc,
} from './stack';

const log = (line: string) => console.error(`[bench:scale] ${line}`);
const teardown = new Teardown(log);
const RUN = randomUUID().slice(0, 8);
const WORKFLOW_TYPE = WORKFLOW_TYPES['api-error-budget']!;
const BY = 'bench-responder';
/** The document's window is 15 min checked every minute: 15 checks, kept whatever `--window`. */
const CHECKS_PER_WINDOW = 15;

interface Options {
  incidents: number;
  rate: number;
  sample: number;
  window: string;
  concurrency: number;
  stuckAfter: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { incidents: 300, rate: 50, sample: 50, window: '60s', concurrency: 8, stuckAfter: 60 };
  const names: Record<string, keyof Options> = {
    '--incidents': 'incidents',
    '--rate': 'rate',
    '--sample': 'sample',
    '--window': 'window',
    '--concurrency': 'concurrency',
    '--stuck-after': 'stuckAfter',
  };
  for (let i = 0; i < argv.length; i++) {
    const name = names[argv[i]];
    if (!name) throw new Error(`unknown argument ${argv[i]}: expected ${Object.keys(names).join(', ')}`);
    const text = argv[++i] ?? '';
    if (name === 'window') {
      if (!/^\d+(\.\d+)?(ms|s|m|h)$/.test(text) || toMs(text) < CHECKS_PER_WINDOW * 100)
        throw new Error(`--window needs a duration of at least 1500ms (15s, 15m), got ${text}`);
      opts.window = text;
      continue;
    }
    const value = Number(text);
    const ok = name === 'rate' ? value > 0 : Number.isInteger(value) && value >= (name === 'sample' ? 0 : 1);
    if (!ok) throw new Error(`${argv[i - 1]} needs a positive ${name === 'rate' ? 'number' : 'integer'}, got ${text}`);
    (opts as unknown as Record<string, number>)[name] = value;
  }
  return opts;
}

// ---- the product's processes ------------------------------------------------------------------

/** The shipped config, its validation window shortened, and no schedule of its own running meanwhile. */
function benchConfig(file: string, windowMs: number): void {
  const raw = JSON.parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as Record<string, Record<string, unknown>>;
  const runbooks = (raw.runbooks ?? {}) as Record<string, { params?: Record<string, unknown> }>;
  raw.runbooks = {
    ...runbooks,
    'api-error-budget': {
      params: {
        ...runbooks['api-error-budget']?.params,
        validationWindow: `${windowMs}ms`,
        validationInterval: `${Math.round(windowMs / CHECKS_PER_WINDOW)}ms`,
      },
    },
  };
  raw.telemetryRollup = { ...raw.telemetryRollup, enabled: false };
  raw.probe = { ...raw.probe, enabled: false };
  raw.maintenance = {
    ...raw.maintenance,
    schedules: Object.fromEntries(MAINTENANCE_RUNBOOKS.map((id) => [id, { enabled: false }])),
  };
  raw.drills = { ...raw.drills, schedules: [] };
  writeFileSync(file, JSON.stringify(raw, null, 2));
  loadConfig(file, {}); // fails here, naming the field, rather than in a child
}

/** This shell's environment without any data source, notifier, token or Temporal profile. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const strip =
    /^(TEMPORAL_|ANTHROPIC_|SLACK_|PAGERDUTY_|SMTP_|OTEL_EXPORTER_OTLP_)|^(PROMETHEUS_URL|LOKI_URL|TRACES_URL|REDIS_URL|RESTORE_CHECK_DATABASE_URL|TELEMETRY_DATABASE_URL|WEBHOOK_TOKEN|CHANGES_TOKEN|DECISION_SIGNING_KEY|RUNBOOKS_.*|GATEWAY_.*)$/;
  for (const key of Object.keys(env)) if (strip.test(key)) delete env[key];
  return { ...env, ...extra };
}

interface Child {
  name: string;
  process: ChildProcess;
  /** Lines that say error, warn or fail, as the child printed them. */
  problems: string[];
  lines: number;
}

/** Starts `entry` under tsx as the product's scripts do; resolves once it prints `ready`. */
async function startChild(
  name: string,
  entry: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  logFile: string,
  timeoutMs: number,
): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, entry)], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child: Child = { name, process: proc, problems: [], lines: 0 };
  teardown.add(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  });
  const out = createWriteStream(logFile);
  let seen = false;
  let onReady: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (onReady = resolve));
  let tail = '';
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      out.write(chunk);
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        child.lines += 1;
        tail = `${tail}\n${line}`.slice(-2000);
        if (!seen && ready.test(line)) {
          seen = true;
          onReady();
        }
        if (/\b(error|warn(ing)?|fail(ed|ure)?)\b/i.test(line) && child.problems.length < 200)
          child.problems.push(line.slice(0, 300));
      }
    });
  }
  const died = new Promise<never>((_, reject) =>
    proc.once('exit', (code, signal) => {
      if (!seen) reject(new Error(`${name} exited (${code ?? signal}) before it was ready:${tail}`));
      else if (!teardown.stopping) log(`${name} exited (${code ?? signal}) during the run`);
    }),
  );
  died.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} not ready within ${timeoutMs / 1000} s:${tail}`)), timeoutMs);
  });
  try {
    await Promise.race([isReady, died, late]);
  } finally {
    clearTimeout(timer);
  }
  log(`${name} ready (pid ${proc.pid})`);
  return child;
}

// ---- measuring the processes ------------------------------------------------------------------

interface Usage {
  cpuMs: number;
  rssKb: number;
}
type Sample = { worker: Usage; gateway: Usage; temporal: Usage; postgres: Usage; bench: Usage; machineMs: number };
const KINDS = ['worker', 'gateway', 'temporal', 'postgres', 'bench'] as const;

/** CPU and RSS of each of our processes now. Postgres's RSS is not summed (shared buffers are in each). */
function sampleProcesses(workerPid: number, gatewayPid: number): Sample {
  const none = (): Usage => ({ cpuMs: 0, rssKb: 0 });
  const s: Sample = {
    worker: none(),
    gateway: none(),
    temporal: none(),
    postgres: none(),
    bench: none(),
    machineMs: machineBusyMs(),
  };
  const procs = readProcs() ?? new Map<number, Proc>();
  const add = (u: Usage, p: Proc | undefined) => {
    if (!p) return;
    u.cpuMs += p.cpuMs;
    u.rssKb += p.rssKb;
  };
  add(s.worker, procs.get(workerPid) ?? readProc(workerPid));
  add(s.gateway, procs.get(gatewayPid) ?? readProc(gatewayPid));
  add(s.bench, procs.get(process.pid));
  for (const p of descendants(procs)) {
    if (p.comm.startsWith('temporal')) add(s.temporal, p);
    // A backend that exited (the pools close idle ones) leaves its CPU in the postmaster's cutime.
    else if (p.comm.startsWith('postgres')) s.postgres.cpuMs += p.cpuMs + p.reapedCpuMs;
  }
  return s;
}

class Sampler {
  readonly max: Record<(typeof KINDS)[number], number> = { worker: 0, gateway: 0, temporal: 0, postgres: 0, bench: 0 };
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly workerPid: number,
    private readonly gatewayPid: number,
  ) {}
  now(): Sample {
    const s = sampleProcesses(this.workerPid, this.gatewayPid);
    for (const k of KINDS) this.max[k] = Math.max(this.max[k], s[k].rssKb);
    return s;
  }
  start(): void {
    this.timer = setInterval(() => this.now(), 1000);
    this.timer.unref();
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

// ---- histories: events and actions -------------------------------------------------------------

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

interface Count {
  events: number;
  actions: number;
  /** Actions by what caused them, e.g. `activity syncIncident`, `timer deadline 5m for ...`. */
  by: Map<string, number>;
  /** ms from the start event to the last event counted. */
  spanMs: number;
  /** A deadline passed before the cut (the incident waited past it). */
  cutAtTimerFired: boolean;
}

function decodePayload(p: { data?: Uint8Array | null } | null | undefined): unknown {
  if (!p?.data) return undefined;
  try {
    return JSON.parse(Buffer.from(p.data).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Variable parts of summaries (counts, check numbers) go, so the same thing in each incident groups. */
function normalise(summary: string): string {
  return summary.replace(/\b\d+\/(\d+)\b/g, 'n/$1').replace(/\brecord \d+ timeline events?/, 'record timeline events');
}

/** Events and actions of one history, as the header comment says; `cut` stops before the first TimerFired. */
function countHistory(events: HistoryEvent[], cut: boolean): Count {
  const by = new Map<string, number>();
  const add = (what: string, n = 1) => by.set(what, (by.get(what) ?? 0) + n);
  const attempts = new Map<string, number>();
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (started) attempts.set(String(started.scheduledEventId), started.attempt ?? 1);
  }
  const laTasks = new Set<string>();
  let counted = 0;
  let cutAtTimerFired = false;
  for (const e of events) {
    if (cut && e.timerFiredEventAttributes) {
      cutAtTimerFired = true;
      break;
    }
    counted += 1;
    if (e.workflowExecutionStartedEventAttributes) add('workflow started');
    else if (e.activityTaskScheduledEventAttributes) {
      const type = e.activityTaskScheduledEventAttributes.activityType?.name ?? '?';
      add(`activity ${type}`, attempts.get(String(e.eventId)) ?? 1);
    } else if (e.timerStartedEventAttributes) {
      const summary = decodePayload(e.userMetadata?.summary);
      add(`timer ${typeof summary === 'string' ? normalise(summary) : '(no summary)'}`);
    } else if (e.workflowExecutionSignaledEventAttributes) {
      add(`signal ${e.workflowExecutionSignaledEventAttributes.signalName}`);
    } else if (e.upsertWorkflowSearchAttributesEventAttributes) {
      const fields = e.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields ?? {};
      const names = Object.keys(fields);
      if (names.length === 1 && names[0] === 'TemporalChangeVersion') continue;
      const status = decodePayload(fields[SA.status.name]);
      const awaiting = decodePayload(fields[SA.awaitingApproval.name]);
      add(`upsert status=${String(status)} awaiting=${String(awaiting)}`);
    } else if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      const task = String(e.markerRecordedEventAttributes.workflowTaskCompletedEventId);
      if (!laTasks.has(task)) add('local activities (per workflow task)');
      laTasks.add(task);
    } else if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
      add(`child ${e.startChildWorkflowExecutionInitiatedEventAttributes.workflowType?.name}`, 2);
    } else if (e.workflowExecutionUpdateAcceptedEventAttributes) {
      const input = e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input;
      const arg = decodePayload(input?.args?.payloads?.[0]) as DecisionInput | undefined;
      add(`update ${input?.name ?? '?'}${arg ? ` ${arg.step} ${arg.decision}` : ''}`);
    }
  }
  const first = events[0]?.eventTime;
  const last = events[counted - 1]?.eventTime;
  return {
    events: counted,
    actions: [...by.values()].reduce((a, b) => a + b, 0),
    by,
    spanMs: first && last ? tsToMs(last) - tsToMs(first) : NaN,
    cutAtTimerFired,
  };
}

/** Waits (up to 15 s) until no activity of the incident is pending, then reads its history. */
async function quietHistory(client: Client, workflowId: string): Promise<HistoryEvent[]> {
  const handle = client.workflow.getHandle(workflowId);
  for (let waited = 0; waited < 15_000; waited += 250) {
    const d = await handle.describe();
    if ((d.raw.pendingActivities ?? []).length === 0) break;
    await sleep(250);
  }
  return (await handle.fetchHistory()).events ?? [];
}

function summariseCounts(counts: Count[]): { rows: string[][]; events: number; actions: number } {
  const n = counts.length || 1;
  const totals = new Map<string, number>();
  for (const c of counts) for (const [k, v] of c.by) totals.set(k, (totals.get(k) ?? 0) + v);
  const rows = [...totals.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, v]) => [k, (v / n).toFixed(2)]);
  return {
    rows,
    events: counts.reduce((a, c) => a + c.events, 0) / n,
    actions: counts.reduce((a, c) => a + c.actions, 0) / n,
  };
}

// ---- helpers -----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `fn` over `items` with at most `limit` in flight. */
async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length && !teardown.stopping; i = next++) await fn(items[i]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** Running incidents of this run that the visibility list shows awaiting a responder. */
async function listAwaiting(client: Client): Promise<string[]> {
  const ids: string[] = [];
  const query =
    `WorkflowType = "${WORKFLOW_TYPE}" AND ExecutionStatus = "Running" AND ` +
    `${SA.status.name} = "awaiting_approval"`;
  for await (const wf of client.workflow.list({ query, pageSize: 1000 })) ids.push(wf.workflowId);
  return ids;
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const s1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const mb = (kb: number) => (kb / 1024).toFixed(0);
const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
};

interface Incident {
  i: number;
  workflowId: string;
  postedAt: number;
  waitingAt?: number;
  decidedAt?: number;
  confirmedAt?: number;
  closedAt?: number;
  execution?: string;
  status?: string;
}

// ---- the run -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const windowMs = toMs(opts.window);
  teardown.onSignals();
  const problems: string[] = [];

  try {
    const stack = await startStack(teardown, log, 'runbooks_scale');
    const pool = new Pool({ connectionString: stack.databaseUrl, max: 2 });
    pool.on('error', () => undefined);
    await migrateAll(pool, pool, true);
    await pool.end();

    const configFile = path.join(stack.scratch, 'runbooks.json');
    benchConfig(configFile, windowMs);
    const config = loadConfig(configFile, {});
    const taskQueue = `bench-scale-${RUN}`;
    const gatewayPort = await freePort();
    const env = childEnv({
      TEMPORAL_ADDRESS: stack.address,
      TEMPORAL_NAMESPACE: 'default',
      DATABASE_URL: stack.databaseUrl,
      RUNBOOKS_CONFIG: configFile,
      RUNBOOKS_TASK_QUEUE: taskQueue,
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(gatewayPort),
    });
    // The worker bundles the workflows first: up to a few minutes on a busy 2-core machine.
    const worker = await startChild(
      'worker',
      'worker/main.ts',
      env,
      /worker polling task queue/,
      path.join(stack.scratch, 'worker.log'),
      300_000,
    );
    const gateway = await startChild(
      'gateway',
      'client/gateway/main.ts',
      env,
      /gateway listening/,
      path.join(stack.scratch, 'gateway.log'),
      120_000,
    );

    const connection = await Connection.connect({ address: stack.address });
    teardown.add(() => connection.close());
    const client = new Client({ connection, namespace: 'default' });
    const incidents = Incidents.create(client, config, taskQueue);
    const sampler = new Sampler(worker.process.pid!, gateway.process.pid!);
    sampler.start();
    teardown.add(async () => sampler.stop());
    const idle = sampler.now();
    log(
      `idle RSS: worker ${mb(idle.worker.rssKb)} MB, gateway ${mb(idle.gateway.rssKb)} MB, Temporal ${mb(idle.temporal.rssKb)} MB`,
    );

    // ---- phase 1: alert → waiting --------------------------------------------------------------
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    teardown.add(async () => agent.destroy());
    const all: Incident[] = [];
    const byId = new Map<string, Incident>();
    const postErrors: string[] = [];
    const postLatency: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let queries = 0;
    let queryErrors = 0;
    log(`phase 1: ${opts.incidents} alerts at ${opts.rate}/s to POST /alertmanager, task queue ${taskQueue}`);
    const cpuA = sampler.now();
    const t0 = Date.now();
    const p0 = performance.now();
    const posts: Promise<void>[] = [];
    let postsDone = false;
    let sendWallMs = NaN;
    const posting = (async () => {
      for (let i = 0; i < opts.incidents && !teardown.stopping; i++) {
        const due = p0 + (i * 1000) / opts.rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const alert = benchAlert(RUN, 'scale', i, new Date().toISOString());
        const postedAt = Date.now();
        const start = performance.now();
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        posts.push(
          postJson(agent, gatewayPort, '/alertmanager', alert.body)
            .then(({ status, text }) => {
              const took = performance.now() - start;
              if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
              const answer = (JSON.parse(text) as AlertmanagerAnswer).alerts[0];
              if (answer?.outcome !== 'started' || !answer.workflowId)
                throw new Error(`expected started, got ${JSON.stringify(answer)}`);
              postLatency.push(took);
              const incident: Incident = { i, workflowId: answer.workflowId, postedAt };
              all.push(incident);
              byId.set(incident.workflowId, incident);
            })
            .catch((err: Error) => {
              postErrors.push(`alert #${i} (${alert.labels.bench}): ${err.message}`);
            })
            .finally(() => {
              inFlight -= 1;
            }),
        );
      }
      sendWallMs = performance.now() - p0;
      await Promise.all(posts);
      postsDone = true;
    })();

    // Waiting: the list names candidates; the state query says whether manual-mitigation is asked.
    let lastProgress = Date.now();
    let waiting = 0;
    while (!teardown.stopping) {
      await sleep(1000);
      const candidates = (await listAwaiting(client)).filter((id) => {
        const inc = byId.get(id);
        return inc && inc.waitingAt === undefined;
      });
      const seenAt = Date.now();
      await eachLimit(candidates, 8, async (id) => {
        queries += 1;
        try {
          const state = await incidents.state(id);
          if (state.pendingApprovals.some((p) => p.step === 'manual-mitigation')) {
            byId.get(id)!.waitingAt = seenAt;
            waiting += 1;
            lastProgress = Date.now();
          }
        } catch {
          queryErrors += 1;
        }
      });
      if (!postsDone) lastProgress = Math.max(lastProgress, Date.now());
      if (postsDone && waiting >= all.length) break;
      if (postsDone && Date.now() - lastProgress > opts.stuckAfter * 1000) {
        log(`phase 1: no incident reached waiting for ${opts.stuckAfter} s; going on with ${waiting}`);
        break;
      }
    }
    await posting;
    const waitingIds = all.filter((x) => x.waitingAt !== undefined);
    const phase1End = Math.max(...waitingIds.map((x) => x.waitingAt!), t0);
    const cpuB = sampler.now();
    const rssOpen = { worker: cpuB.worker.rssKb, gateway: cpuB.gateway.rssKb, temporal: cpuB.temporal.rssKb };
    log(`phase 1: ${waitingIds.length}/${opts.incidents} waiting after ${((phase1End - t0) / 1000).toFixed(1)} s`);
    const stuck1 = all.filter((x) => x.waitingAt === undefined);

    // Histories up to waiting, of a sample spread over the run.
    const ordered = [...waitingIds].sort((a, b) => a.i - b.i);
    const every = Math.max(1, ordered.length / Math.max(1, opts.sample));
    const picks = Array.from({ length: Math.min(opts.sample, ordered.length) }, (_, k) => Math.floor(k * every));
    const sample = [...new Set(picks)].map((k) => ordered[k]);
    log(`reading ${sample.length} histories (up to waiting)`);
    const toWaiting: Count[] = [];
    await eachLimit(sample, 4, async (inc) => {
      try {
        toWaiting.push(countHistory(await quietHistory(client, inc.workflowId), true));
      } catch (err) {
        problems.push(`history of ${inc.workflowId}: ${(err as Error).message}`);
      }
    });

    // ---- phase 2: decided → closed --------------------------------------------------------------
    log(
      `phase 2: deciding ${waitingIds.length} incidents (acknowledge, manual-mitigation done), ${opts.concurrency} at a time`,
    );
    const decideLatency: number[] = [];
    const decideErrors: string[] = [];
    const decide = async (inc: Incident, d: Omit<DecisionInput, 'by'>): Promise<boolean> => {
      const start = performance.now();
      try {
        await incidents.decide(inc.workflowId, { ...d, by: BY, comment: 'bench:scale' });
        decideLatency.push(performance.now() - start);
        return true;
      } catch (err) {
        decideErrors.push(`${inc.workflowId} ${d.step} ${d.decision}: ${(err as Error).message}`);
        return false;
      }
    };
    const cpuC = sampler.now();
    const t2 = Date.now();
    const deciding = eachLimit(waitingIds, opts.concurrency, async (inc) => {
      if (!(await decide(inc, { step: 'acknowledge', decision: 'acknowledge' }))) return;
      if (await decide(inc, { step: 'manual-mitigation', decision: 'done' })) inc.decidedAt = Date.now();
    });
    let decidingDone = false;
    void deciding.then(() => (decidingDone = true));

    let refusedConfirms = 0;
    const confirmErrors: string[] = [];
    let closed = 0;
    lastProgress = Date.now();
    while (!teardown.stopping) {
      await sleep(1000);
      const due = new Set(
        waitingIds
          .filter(
            (x) => x.decidedAt !== undefined && x.confirmedAt === undefined && Date.now() >= x.decidedAt + windowMs,
          )
          .map((x) => x.workflowId),
      );
      if (due.size) {
        const candidates = (await listAwaiting(client)).filter((id) => due.has(id));
        await eachLimit(candidates, opts.concurrency, async (id) => {
          const inc = byId.get(id)!;
          try {
            await incidents.decide(id, { step: 'validate-error-ratio', decision: 'confirm', by: BY });
            inc.confirmedAt = Date.now();
            lastProgress = Date.now();
          } catch (err) {
            if (err instanceof DecisionRefused && err.code === 409 && /not waiting|not pending/.test(err.message))
              refusedConfirms += 1; // still in its window (the list lags): asked again next round
            else confirmErrors.push(`${id} validate-error-ratio confirm: ${(err as Error).message}`);
          }
        });
      }
      const nowClosed = (
        await client.workflow.count(`WorkflowType = "${WORKFLOW_TYPE}" AND ExecutionStatus != "Running"`)
      ).count;
      if (nowClosed > closed) lastProgress = Date.now();
      closed = nowClosed;
      if (!decidingDone) lastProgress = Math.max(lastProgress, Date.now());
      const decided = waitingIds.filter((x) => x.decidedAt !== undefined).length;
      if (decidingDone && closed >= decided) break;
      if (decidingDone && Date.now() - lastProgress > opts.stuckAfter * 1000 + windowMs) {
        log(`phase 2: no incident closed for ${opts.stuckAfter} s past the window; going on with ${closed} closed`);
        break;
      }
    }
    await deciding;
    const cpuD = sampler.now();

    // Every incident's outcome, from the visibility list.
    for await (const wf of client.workflow.list({ query: `WorkflowType = "${WORKFLOW_TYPE}"`, pageSize: 1000 })) {
      const inc = byId.get(wf.workflowId);
      if (!inc) continue;
      inc.execution = wf.status.name;
      inc.status = wf.typedSearchAttributes.get(SA.status);
      inc.closedAt = wf.closeTime?.getTime();
    }
    const closedIds = waitingIds.filter((x) => x.closedAt !== undefined);
    const phase2End = Math.max(...closedIds.map((x) => x.closedAt!), t2);
    const followUps = (await client.workflow.count(`WorkflowType = "followUpReminder" AND ExecutionStatus = "Running"`))
      .count;

    log(`reading ${sample.length} histories (alert to closed)`);
    const toClosed: Count[] = [];
    await eachLimit(
      sample.filter((x) => x.closedAt !== undefined),
      4,
      async (inc) => {
        try {
          const events = (await client.workflow.getHandle(inc.workflowId).fetchHistory()).events ?? [];
          toClosed.push(countHistory(events, false));
        } catch (err) {
          problems.push(`history of ${inc.workflowId}: ${(err as Error).message}`);
        }
      },
    );
    sampler.stop();

    // ---- report ----------------------------------------------------------------------------------
    const n1 = waitingIds.length;
    const n2 = closedIds.length;
    const cpuPer = (a: Sample, b: Sample, k: (typeof KINDS)[number], n: number) =>
      n ? ((b[k].cpuMs - a[k].cpuMs) / 1000 / n).toFixed(3) : '-';
    const post = stats(postLatency);
    const wait = stats(waitingIds.map((x) => (x.waitingAt! - x.postedAt) / 1000));
    const sampleWait = stats(toWaiting.map((c) => c.spanMs / 1000));
    const decideStats = stats(decideLatency);
    const afterWindow = stats(
      closedIds.filter((x) => x.decidedAt !== undefined).map((x) => (x.closedAt! - x.decidedAt! - windowMs) / 1000),
    );
    const phase1Ms = phase1End - t0;
    const phase2Ms = phase2End - t2;
    const wallOf = (a: Sample, b: Sample) => b.machineMs - a.machineMs;
    const oursOf = (a: Sample, b: Sample) => KINDS.reduce((sum, k) => sum + (b[k].cpuMs - a[k].cpuMs), 0);

    console.log('');
    console.log(
      `Scale: ${opts.incidents} incidents (api-error-budget, ApiErrorRate) at ${opts.rate}/s, one worker, ` +
        `validation window ${opts.window} (${CHECKS_PER_WINDOW} checks), decide concurrency ${opts.concurrency}; ` +
        `${os.cpus().length} CPUs, node ${process.version}`,
    );
    console.log('');
    console.log(
      table(
        [
          'POST /alertmanager',
          'count',
          'sent per s',
          'p50 ms',
          'p95 ms',
          'p99 ms',
          'max ms',
          'max in flight',
          'errors',
        ],
        [
          [
            'new incident (started)',
            String(postLatency.length),
            (opts.incidents / (sendWallMs / 1000)).toFixed(1),
            ms(post.p50),
            ms(post.p95),
            ms(post.p99),
            ms(post.max),
            String(maxInFlight),
            String(postErrors.length),
          ],
        ],
      ),
    );
    console.log('');
    console.log(
      table(
        ['phase', 'incidents', 'wall s', 'incidents/s', 'per incident p50 s', 'p95 s', 'max s', 'stuck'],
        [
          [
            'alert → waiting (first POST → last waiting)',
            `${n1}/${all.length}`,
            s1(phase1Ms / 1000),
            (n1 / (phase1Ms / 1000)).toFixed(1),
            s1(wait.p50),
            s1(wait.p95),
            s1(wait.max),
            String(stuck1.length),
          ],
          [
            `decided → closed (first decision → last closed, incl. the ${opts.window} window)`,
            `${n2}/${n1}`,
            s1(phase2Ms / 1000),
            (n2 / (phase2Ms / 1000)).toFixed(1),
            s1(afterWindow.p50),
            s1(afterWindow.p95),
            s1(afterWindow.max),
            String(n1 - n2),
          ],
        ],
      ),
    );
    console.log('');
    console.log(
      '"per incident": alert → waiting is the POST to the first poll (every ~1 s) that found it waiting; ' +
        'decided → closed is manual-mitigation done to closed, less the window.',
    );
    console.log(
      `From the ${toWaiting.length} sampled histories, start → waiting: p50 ${s1(sampleWait.p50)} s, max ${s1(sampleWait.max)} s.`,
    );
    console.log(
      `Decisions (update via Incidents.decide): ${decideLatency.length}, p50 ${ms(decideStats.p50)} ms, ` +
        `p99 ${ms(decideStats.p99)} ms, max ${ms(decideStats.max)} ms; confirms refused as not yet asked (retried): ${refusedConfirms}.`,
    );
    console.log('');
    console.log(
      table(
        [
          'process',
          'RSS idle MB',
          `RSS with ${n1} open MB`,
          'RSS max MB',
          'CPU s/incident alert→waiting',
          'CPU s/incident decided→closed',
        ],
        (['worker', 'gateway', 'temporal', 'postgres', 'bench'] as const).map((k) => [
          k === 'temporal' ? 'Temporal dev server' : k === 'bench' ? 'this process (load, polls, decisions)' : k,
          k === 'postgres' || k === 'bench' ? '-' : mb(idle[k].rssKb),
          k === 'postgres' || k === 'bench' ? '-' : mb(rssOpen[k]),
          k === 'postgres' ? '-' : mb(sampler.max[k]),
          cpuPer(cpuA, cpuB, k, n1),
          cpuPer(cpuC, cpuD, k, n2),
        ]),
      ),
    );
    console.log('');
    console.log(
      `CPU in use, in cores of ${os.cpus().length}: alert → waiting: ours ${(oursOf(cpuA, cpuB) / phase1Ms).toFixed(2)}, ` +
        `everything else ${(Math.max(0, wallOf(cpuA, cpuB) - oursOf(cpuA, cpuB)) / phase1Ms).toFixed(2)}; ` +
        `decided → closed: ours ${(oursOf(cpuC, cpuD) / (Date.now() - t2)).toFixed(2)}, everything else ` +
        `${(Math.max(0, wallOf(cpuC, cpuD) - oursOf(cpuC, cpuD)) / (Date.now() - t2)).toFixed(2)}.`,
    );
    console.log(
      `The bench's own reads: ${queries} state queries (${queryErrors} failed) to find incidents waiting; ` +
        `follow-up reminders left running: ${followUps}.`,
    );

    const upTo = summariseCounts(toWaiting);
    const whole = summariseCounts(toClosed);
    const passed = toWaiting.filter((c) => c.cutAtTimerFired).length;
    console.log('');
    console.log(
      `History per incident, mean of ${toWaiting.length} sampled: up to waiting ${upTo.events.toFixed(1)} events, ` +
        `${upTo.actions.toFixed(1)} actions${passed ? ` (${passed} had a deadline pass while waiting: cut there)` : ''}; ` +
        `alert to closed (${toClosed.length}) ${whole.events.toFixed(1)} events, ${whole.actions.toFixed(1)} actions.`,
    );
    console.log('');
    console.log(table(['actions up to waiting', 'per incident'], [...upTo.rows, ['total', upTo.actions.toFixed(2)]]));
    console.log('');
    console.log(
      table(['actions alert to closed', 'per incident'], [...whole.rows, ['total', whole.actions.toFixed(2)]]),
    );

    // ---- what failed or got stuck ----------------------------------------------------------------
    const outcomes = new Map<string, string[]>();
    for (const inc of all) {
      const k = `${inc.execution ?? '?'} / ${inc.status ?? '?'}`;
      outcomes.set(k, [...(outcomes.get(k) ?? []), inc.workflowId]);
    }
    console.log('');
    console.log(
      `Outcomes (execution / IncidentStatus): ${[...outcomes].map(([k, ids]) => `${k} ${ids.length}`).join(', ') || 'none'}`,
    );
    const bad = all.filter((x) => x.execution !== 'COMPLETED' || x.status !== 'resolved');
    const show = (what: string, lines: string[]) => {
      if (!lines.length) return;
      console.log(`${what}: ${lines.length}`);
      for (const line of lines.slice(0, 10)) console.log(`  ${line}`);
      if (lines.length > 10) console.log(`  … and ${lines.length - 10} more`);
    };
    show('POSTs failed', postErrors);
    show(
      'never waiting at manual-mitigation',
      stuck1.map((x) => `${x.workflowId} (${x.execution ?? '?'}, status ${x.status ?? '?'})`),
    );
    show('decisions failed', decideErrors);
    show('confirms failed', confirmErrors);
    show(
      'not closed resolved',
      bad.filter((x) => x.waitingAt !== undefined).map((x) => `${x.workflowId} (${x.execution}, status ${x.status})`),
    );
    show('bench problems', problems);
    for (const child of [worker, gateway])
      show(`${child.name} log lines saying error/warn/fail (of ${child.lines})`, child.problems);
    process.exitCode =
      postErrors.length || stuck1.length || decideErrors.length || confirmErrors.length || bad.length ? 1 : 0;
  } finally {
    log('tearing down');
    await teardown.run();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(`[bench:scale] ${err instanceof Error ? err.message : String(err)}`);
    void teardown.run().then(() => process.exit(1));
  },
);
