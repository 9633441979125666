// What the benchmarks that run their own stack share (bench/ingest.ts, bench/scale.ts): a scratch
// folder, a fresh Temporal dev server on a free port and an embedded Postgres, one teardown for all
// of it, what /proc says about the processes they started, the Alertmanager bodies they send, and
// the tables they print.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startEmbeddedPostgres } from '../dev/postgres';
import { startDevServer } from '../dev/temporal-binaries';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

export type Log = (line: string) => void;

// ---- teardown --------------------------------------------------------------------------------

/**
 * One teardown, shared: a signal and the end of main() both wait for it, so neither exits midway.
 * Last started, first stopped; a failing step must not leave the rest (Postgres, Temporal) running.
 */
export class Teardown {
  /** Set once the teardown starts (SIGINT / SIGTERM, or the end): no new requests meanwhile. */
  stopping = false;
  private readonly steps: (() => Promise<unknown>)[] = [];
  private running?: Promise<void>;

  constructor(private readonly log: Log) {}

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.stopping = true;
    return (this.running ??= (async () => {
      for (const step of this.steps.reverse()) await step().catch((err: Error) => this.log(`teardown: ${err.message}`));
    })());
  }

  /**
   * Tears down on SIGINT / SIGTERM, then exits 130. `on`, not `once`: under `timeout` the signal
   * comes twice (process group, then tsx relaying it), and a second one with no handler would kill
   * the process halfway through the teardown.
   */
  onSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        if (this.stopping) return;
        this.log(`${sig}: tearing down`);
        this.stopping = true;
        void this.run().then(() => process.exit(130));
      });
    }
  }
}

// ---- the stack -------------------------------------------------------------------------------

export const SCRATCH_PREFIX = 'runbooks-bench-';

/**
 * Removes scratch folders (a Postgres cluster each, ~50 MB) left by runs that were killed: tsx sends
 * SIGKILL when a signalled child is too busy to answer within 30 ms, so teardown cannot be relied on.
 * A folder whose owner is still alive (another run at the same time) is left alone.
 */
export function removeStaleScratch(log: Log): void {
  for (const name of readdirSync(os.tmpdir()).filter((n) => n.startsWith(SCRATCH_PREFIX))) {
    const dir = path.join(os.tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
    } catch {
      continue; // not ours to judge, or being created right now
    }
    try {
      process.kill(owner, 0);
      continue;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    rmSync(dir, { recursive: true, force: true });
    log(`removed ${dir}, left by a killed run (pid ${owner})`);
  }
}

export interface Stack {
  /** A temp folder of this run's own, removed at teardown. */
  scratch: string;
  temporal: TestWorkflowEnvironment;
  /** host:port of the Temporal dev server's frontend. */
  address: string;
  databaseUrl: string;
  /** False when DATABASE_URL was used: that Postgres's CPU is not ours to count. */
  embeddedPostgres: boolean;
}

/**
 * A scratch folder, a fresh in-memory Temporal dev server on a free port with the search attributes
 * registered, and an embedded Postgres in the scratch folder (or DATABASE_URL when set), each
 * stopped by `teardown`. No migrations: each benchmark applies its own.
 */
export async function startStack(teardown: Teardown, log: Log, database: string): Promise<Stack> {
  removeStaleScratch(log);
  const scratch = mkdtempSync(path.join(os.tmpdir(), SCRATCH_PREFIX));
  writeFileSync(path.join(scratch, 'owner.pid'), String(process.pid));
  // As root, embedded Postgres runs as its own `postgres` user, which must reach the data folder.
  chmodSync(scratch, 0o755);
  teardown.add(async () => rmSync(scratch, { recursive: true, force: true }));

  const temporal = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES, log });
  teardown.add(() => temporal.env.teardown());
  const address = temporal.env.connection.options.address;
  log(`Temporal dev server (${temporal.binary}) on ${address}`);

  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const db = await startEmbeddedPostgres(path.join(scratch, 'postgres'), database, 0);
    teardown.add(() => db.stop());
    databaseUrl = db.url;
    log(`embedded Postgres on ${db.url}`);
  } else {
    log('Postgres at DATABASE_URL (its CPU is not counted below)');
  }
  return { scratch, temporal: temporal.env, address, databaseUrl, embeddedPostgres: !process.env.DATABASE_URL };
}

// ---- processes (Linux /proc only) ------------------------------------------------------------

export const TICK_MS = 10; // USER_HZ is 100 on every Linux this runs on
const PAGE_KB = 4; // the page size on x86-64 and the usual arm64 kernels

export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, ms. */
  cpuMs: number;
  /** cutime + cstime, ms: the CPU of its children that have exited (e.g. Postgres backends). */
  reapedCpuMs: number;
  /** Resident set, kB. */
  rssKb: number;
}

/** Every process /proc shows now; undefined where there is no /proc. */
export function readProcs(): Map<number, Proc> | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  const procs = new Map<number, Proc>();
  for (const pid of entries) {
    const p = readProc(Number(pid));
    if (p) procs.set(p.pid, p);
  }
  return procs;
}

/** One process from /proc/<pid>/stat; undefined once it has exited. */
export function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is in parentheses and may hold spaces; the fixed fields follow the last ')'.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      ppid: Number(fields[1]),
      comm,
      cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
      reapedCpuMs: (Number(fields[13]) + Number(fields[14])) * TICK_MS,
      rssKb: Number(fields[21]) * PAGE_KB,
    };
  } catch {
    return undefined; // exited while we looked
  }
}

/** The processes below `root` (not `root` itself): only our own servers count, not anyone else's. */
export function descendants(procs: Map<number, Proc>, root = process.pid): Proc[] {
  const out: Proc[] = [];
  for (const [pid, p] of procs) {
    if (pid === root) continue;
    let up = p.ppid;
    while (up > 1 && up !== root) up = procs.get(up)?.ppid ?? 0;
    if (up === root) out.push(p);
  }
  return out;
}

/** Busy CPU of the whole machine (all processes, all cores), ms: /proc/stat's first line. */
export function machineBusyMs(): number {
  // user nice system idle iowait irq softirq steal, in ticks.
  const total = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return (total.reduce((a, b) => a + b, 0) - total[3] - total[4]) * TICK_MS;
}

// ---- what is sent ----------------------------------------------------------------------------

export const SERVICE = 'api';
export const ENVIRONMENT = 'bench';
export const ANNOTATIONS = { summary: '5xx rate above 1%' };
export const STARTS_AT = '2026-01-01T03:00:00Z';
export const ENDS_AT = '0001-01-01T00:00:00Z'; // what Alertmanager sends for a firing alert
export const GENERATOR_URL = 'http://prometheus.bench:9090/graph';

export interface BenchAlert {
  labels: Record<string, string>;
  groupKey: string;
  fingerprint: string;
  startsAt: string;
  /** An Alertmanager webhook v4 body with this one firing alert, as Alertmanager sends it. */
  body: string;
}

/**
 * One firing `ApiErrorRate` alert with a group key of its own (`run`, `tag`, `i`), so each starts a
 * new incident of api-error-budget under the shipped config.
 */
export function benchAlert(run: string, tag: string, i: number, startsAt = STARTS_AT): BenchAlert {
  const labels: Record<string, string> = {
    alertname: 'ApiErrorRate',
    service: SERVICE,
    environment: ENVIRONMENT,
    severity: 'critical',
    bench: `${run}-${tag}-${i}`,
  };
  const groupKey = `{}:{alertname="ApiErrorRate", bench="${labels.bench}"}`;
  const fingerprint = `${tag}-${i.toString(16).padStart(8, '0')}`;
  const body = JSON.stringify({
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'runbooks',
    groupLabels: { alertname: labels.alertname, bench: labels.bench },
    commonLabels: labels,
    commonAnnotations: ANNOTATIONS,
    externalURL: 'http://alertmanager.bench:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: ANNOTATIONS,
        startsAt,
        endsAt: ENDS_AT,
        generatorURL: GENERATOR_URL,
        fingerprint,
      },
    ],
  });
  return { labels, groupKey, fingerprint, startsAt, body };
}

export interface AlertmanagerAnswer {
  alerts: { outcome: string; workflowId?: string; reason?: string }[];
}

/** POSTs a JSON body; resolves once the whole answer is read, with its status and text. */
export function postJson(
  agent: http.Agent,
  port: number,
  urlPath: string,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: urlPath,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// ---- figures ---------------------------------------------------------------------------------

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A Markdown table: the first column left-aligned, the rest right-aligned. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(head), rule, ...rows.map(line)].join('\n');
}
