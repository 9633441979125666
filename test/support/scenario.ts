// The world an API Error Budget incident happens in: the API with its real Prometheus, and the
// stand-ins for Slack, PagerDuty, the provider's status page, Loki and Jaeger.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConfigInput } from '../../config/schema';
import { redisInfo } from '../../activities/redis-info';
import { eventually } from './harness';
import { secret } from './secrets';
import { FakeApi, Prometheus } from './system';
import { JaegerStandIn, LokiStandIn, PagerDutyStandIn, SlackStandIn, StatusPageStandIn } from './standins';

export const SERVICE = 'api';

export class World {
  readonly slack = new SlackStandIn();
  readonly pagerduty = new PagerDutyStandIn();
  readonly routingKey = secret('PAGERDUTY_ROUTING_KEY');
  readonly status = new StatusPageStandIn();
  readonly loki = new LokiStandIn();
  readonly jaeger = new JaegerStandIn();
  readonly api = new FakeApi({ service: SERVICE, environment: 'prod' });
  readonly prometheus = new Prometheus();
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-world-'));
  redisUrl?: string;

  /** `alerting`: alert rules and the Alertmanager that Prometheus sends them to. */
  async start(alerting?: { rules: string; alertmanagerUrl: string }): Promise<this> {
    await Promise.all([
      this.slack.listen(),
      this.pagerduty.listen(),
      this.status.listen(),
      this.loki.listen(),
      this.jaeger.listen(),
    ]);
    await this.api.start();
    this.api.startTraffic(40);
    await this.prometheus.start({
      target: this.api.url,
      labels: { service: SERVICE, environment: 'prod' },
      ...alerting,
    });
    // Redis is a real dependency when this machine runs one; otherwise the check says "not configured".
    this.redisUrl = await redisInfo('redis://127.0.0.1:6379', 1000).then(
      () => 'redis://127.0.0.1:6379',
      () => undefined,
    );
    return this;
  }

  async stop(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
    await this.api.stop();
    await this.prometheus.stop();
    await Promise.all([
      this.slack.close(),
      this.pagerduty.close(),
      this.status.close(),
      this.loki.close(),
      this.jaeger.close(),
    ]);
  }

  /**
   * A command that writes "started" to a file at once and "ran" when done (after sleepMs), so a
   * test can tell it began and count how often it took effect.
   */
  marker(name: string, sleepMs = 0): { argv: string[]; file: string; started(): number; count(): number } {
    const file = path.join(this.dir, `${name}.log`);
    const script = `const fs = require('fs'); fs.appendFileSync(process.argv[1], 'started\\n'); setTimeout(() => fs.appendFileSync(process.argv[1], 'ran\\n'), ${sleepMs})`;
    const lines = (word: string) => {
      try {
        return readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l === word).length;
      } catch {
        return 0;
      }
    };
    return {
      argv: [process.execPath, '-e', script, file],
      file,
      started: () => lines('started'),
      count: () => lines('ran'),
    };
  }

  env(): NodeJS.ProcessEnv {
    return {
      SLACK_BOT_TOKEN: this.slack.token,
      SLACK_API_URL: `${this.slack.url}/api`,
      PAGERDUTY_ROUTING_KEY: this.routingKey,
      PAGERDUTY_EVENTS_URL: this.pagerduty.url,
      ...(this.redisUrl ? { REDIS_URL: this.redisUrl } : {}),
    };
  }

  config(overrides: Partial<ConfigInput> = {}): ConfigInput {
    return {
      routes: [{ match: ['alertname=~"(?i).*(ErrorRate|5xx).*"'], runbook: 'api-error-budget' }],
      approvals: { defaultRoles: ['oncall'], stepRoles: {}, preApproved: [] },
      dataSources: {
        // Environment is left out of the PromQL scope so every test's environment reads the one API.
        prometheus: { url: this.prometheus.url, selector: 'service="{service}"', rateWindow: '4s' },
        loki: { url: this.loki.url },
        traces: { url: this.jaeger.url },
        statusPages: [{ name: 'llm-provider', url: `${this.status.url}/api/v2/status.json` }],
      },
      notifications: {
        oncall: { slackChannel: '#oncall', pagerduty: true },
        secondary: { slackChannel: '#incident-secondary', pagerduty: true },
        customerSuccess: { slackChannel: '#customer-success' },
      },
      escalation: ['oncall', 'secondary'],
      runbooks: {
        'api-error-budget': {
          params: {
            validationWindow: '8s',
            validationInterval: '2s',
            approvalDeadline: '1h',
            failAfterBreaches: 3,
            followUpAfter: '1h',
            // The tests' clean stretch before a change: earlier tests' errors are further back.
            changeBaseline: '4s',
          },
        },
      },
      ...overrides,
    };
  }

  /** /v1/chat's 5xx rate as Prometheus has it now; null before it has scraped any traffic. */
  async chat5xx(): Promise<number | null> {
    const all = 'sum(rate(http_requests_total{route="/v1/chat"}[4s]))';
    const r = await this.prometheus.query(
      `sum(rate(http_requests_total{route="/v1/chat",status=~"5.."}[4s])) or ${all} * 0`,
    );
    return r.length ? Number(r[0].value[1]) : null;
  }

  /** Traffic and no 5xx for a few scrapes: the clean stretch a change is judged against. */
  async calm(): Promise<void> {
    this.api.errorRates = {};
    await eventually('Prometheus to see traffic and no 5xx', async () =>
      (await this.chat5xx()) === 0 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 4_000));
  }

  /** 5xx on /v1/chat at `rate`, once Prometheus sees them. */
  async errors(rate: number): Promise<void> {
    this.api.errorRates = { '/v1/chat': rate };
    await eventually('Prometheus to see the 5xx', async () => (((await this.chat5xx()) ?? 0) > 0 ? true : undefined));
  }

  /** Error log lines for an environment, as the API would ship them to Loki. */
  errorLogs(environment: string, message: string, n = 10, extra: Record<string, string> = {}): void {
    for (let i = 0; i < n; i++) {
      this.loki.push(
        { service: SERVICE, environment },
        JSON.stringify({
          level: 'error',
          route: '/v1/chat',
          request_id: `req-${environment}-${i}`,
          msg: message,
          ...extra,
        }),
        Date.now() - i * 1000,
      );
    }
  }
}
