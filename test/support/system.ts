// Real Prometheus and Alertmanager from Debian's packages, and a small API that serves errors on
// demand. Tests that need a package skip with its name when it is absent, unless
// REQUIRE_SYSTEM_PACKAGES=1 (set by .ci/run), which turns the skip into a failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../dev/postgres';

export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/sbin'])) {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * The skip reason for node:test when a Debian package is missing, or false to run.
 * Under REQUIRE_SYSTEM_PACKAGES=1 a missing package throws instead, failing the test file.
 */
export function needs(...packages: { pkg: string; binary: string }[]): string | false {
  const missing = packages.filter((p) => !findBinary(p.binary)).map((p) => p.pkg);
  if (missing.length === 0) return false;
  const reason = `needs Debian package(s) ${missing.join(', ')} (apt-get install ${missing.join(' ')})`;
  if (process.env.REQUIRE_SYSTEM_PACKAGES === '1') throw new Error(`REQUIRE_SYSTEM_PACKAGES=1 but ${reason}`);
  return reason;
}

export const PROMETHEUS = { pkg: 'prometheus', binary: 'prometheus' };
export const ALERTMANAGER = { pkg: 'prometheus-alertmanager', binary: 'prometheus-alertmanager' };
export const CHROMIUM = { pkg: 'chromium', binary: 'chromium' };

/** The service under watch: real HTTP routes whose 5xx share the test sets, with a /metrics page. */
export class FakeApi {
  private server?: http.Server;
  private counts = new Map<string, number>();
  private traffic?: NodeJS.Timeout;
  /** Fraction of requests per route answered 5xx. */
  errorRates: Record<string, number> = {};
  url = '';

  constructor(
    readonly labels: { service: string; environment: string },
    readonly routes = ['/v1/chat', '/v1/embeddings', '/healthz'],
  ) {}

  async start(): Promise<this> {
    let n = 0;
    this.server = http.createServer((req, res) => {
      const route = (req.url ?? '/').split('?')[0];
      if (route === '/metrics') {
        const lines = ['# TYPE http_requests_total counter'];
        for (const [key, value] of this.counts) {
          const [r, status] = key.split('|');
          lines.push(`http_requests_total{route="${r}",status="${status}"} ${value}`);
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(`${lines.join('\n')}\n`);
        return;
      }
      const rate = this.errorRates[route] ?? 0;
      // Deterministic spread: every k-th request fails, so the ratio is exact.
      n += 1;
      const failing = rate > 0 && n % Math.max(1, Math.round(1 / rate)) === 0;
      const status = failing ? 503 : 200;
      const key = `${route}|${status}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      res.writeHead(status);
      res.end();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  /** Sends real requests, spread over the routes, `perSecond` of them a second. */
  startTraffic(perSecond = 40): void {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    this.traffic = setInterval(() => {
      for (let i = 0; i < perSecond / 10; i++) {
        const route = this.routes[i % this.routes.length];
        http.get(`${this.url}${route}`, { agent }, (res) => res.resume()).on('error', () => undefined);
      }
    }, 100);
  }

  async stop(): Promise<void> {
    clearInterval(this.traffic);
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

async function waitFor(url: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error(`${url} did not come up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

class Daemon {
  private child?: ChildProcess;
  private output = '';
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-daemon-'));
  url = '';

  protected async run(binary: string, args: string[], port: number, readyPath: string): Promise<void> {
    this.url = `http://127.0.0.1:${port}`;
    this.child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => (this.output = (this.output + b.toString()).slice(-4000));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    try {
      await waitFor(`${this.url}${readyPath}`);
    } catch (err) {
      throw new Error(`${binary} did not start: ${(err as Error).message}\n${this.output}`);
    }
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((r) => this.child!.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Prometheus extends Daemon {
  async start(opts: {
    target: string;
    labels: Record<string, string>;
    rules?: string;
    alertmanagerUrl?: string;
    scrapeInterval?: string;
  }): Promise<this> {
    const port = await freePort();
    const rulesFile = path.join(this.dir, 'rules.yml');
    if (opts.rules) writeFileSync(rulesFile, opts.rules);
    const labels = Object.entries(opts.labels)
      .map(([k, v]) => `          ${k}: ${JSON.stringify(v)}`)
      .join('\n');
    const config = [
      'global:',
      `  scrape_interval: ${opts.scrapeInterval ?? '1s'}`,
      `  evaluation_interval: ${opts.scrapeInterval ?? '1s'}`,
      opts.rules ? `rule_files: [${JSON.stringify(rulesFile)}]` : '',
      opts.alertmanagerUrl
        ? `alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [${JSON.stringify(new URL(opts.alertmanagerUrl).host)}]`
        : '',
      'scrape_configs:',
      '  - job_name: api',
      '    static_configs:',
      `      - targets: [${JSON.stringify(new URL(opts.target).host)}]`,
      '        labels:',
      labels,
    ].join('\n');
    writeFileSync(path.join(this.dir, 'prometheus.yml'), config);
    await this.run(
      findBinary('prometheus')!,
      [
        `--config.file=${path.join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--rules.alert.resend-delay=1s',
      ],
      port,
      '/-/ready',
    );
    return this;
  }

  async query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: q })}`);
    const body = (await res.json()) as {
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return body.data.result;
  }
}

export class Alertmanager extends Daemon {
  async start(opts: { webhookUrl: string; token?: string; groupWait?: string; groupInterval?: string }): Promise<this> {
    const port = await freePort();
    const auth = opts.token
      ? `\n        http_config:\n          authorization:\n            credentials: ${JSON.stringify(opts.token)}`
      : '';
    const config = [
      'route:',
      '  receiver: runbooks',
      `  group_by: [alertname, service, environment]`,
      `  group_wait: ${opts.groupWait ?? '1s'}`,
      `  group_interval: ${opts.groupInterval ?? '2s'}`,
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: runbooks',
      '    webhook_configs:',
      `      - url: ${JSON.stringify(opts.webhookUrl)}`,
      `        send_resolved: true${auth}`,
    ].join('\n');
    writeFileSync(path.join(this.dir, 'alertmanager.yml'), config);
    await this.run(
      findBinary('prometheus-alertmanager')!,
      [
        `--config.file=${path.join(this.dir, 'alertmanager.yml')}`,
        `--storage.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      port,
      '/-/ready',
    );
    return this;
  }
}
