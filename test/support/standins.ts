// Local servers speaking the real protocols of services that are not packaged here: Slack's Web
// API, PagerDuty Events v2, a statuspage.io status page, Grafana Loki and a Jaeger query API.
// The product reaches them through the same clients it uses in production.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { secret } from './secrets';

export interface Recorded {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: Recorded, url: URL) => { status: number; body: unknown; headers?: Record<string, string> };

export class StandIn {
  readonly requests: Recorded[] = [];
  private server?: http.Server;
  url = '';

  protected constructor(private readonly routes: Record<string, Handler>) {}

  async listen(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://standin');
        const rec: Recorded = {
          method: req.method ?? 'GET',
          path: url.pathname,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(rec);
        const handler = this.routes[`${rec.method} ${url.pathname}`];
        const out = handler
          ? handler(rec, url)
          : { status: 404, body: { error: `no route ${rec.method} ${url.pathname}` } };
        const text = JSON.stringify(out.body);
        res.writeHead(out.status, { 'content-type': 'application/json', ...out.headers });
        res.end(text);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** Slack Web API: chat.postMessage, form-encoded or JSON, bearer token checked. */
export class SlackStandIn extends StandIn {
  readonly messages: { channel: string; text: string }[] = [];

  constructor(readonly token = secret('SLACK_BOT_TOKEN', 'xoxb-')) {
    super({
      'POST /api/chat.postMessage': (req) => {
        if (req.headers.authorization !== `Bearer ${this.token}`)
          return { status: 200, body: { ok: false, error: 'invalid_auth' } };
        const args: Record<string, string> = (req.headers['content-type'] ?? '').includes('json')
          ? JSON.parse(req.body)
          : Object.fromEntries(new URLSearchParams(req.body));
        if (!args.channel) return { status: 200, body: { ok: false, error: 'channel_not_found' } };
        this.messages.push({ channel: args.channel, text: args.text ?? '' });
        return {
          status: 200,
          body: { ok: true, channel: args.channel, ts: `${Date.now() / 1000}`, message: { text: args.text } },
        };
      },
    });
  }

  in(channel: string): string[] {
    return this.messages.filter((m) => m.channel === channel).map((m) => m.text);
  }
}

/** PagerDuty Events API v2: POST /v2/enqueue. */
export class PagerDutyStandIn extends StandIn {
  readonly events: {
    event_action: string;
    dedup_key: string;
    routing_key: string;
    payload?: { summary: string; severity: string };
  }[] = [];

  constructor() {
    super({
      'POST /v2/enqueue': (req) => {
        const event = JSON.parse(req.body);
        if (!event.routing_key || !['trigger', 'acknowledge', 'resolve'].includes(event.event_action)) {
          return {
            status: 400,
            body: {
              status: 'invalid event',
              message: 'Event object is invalid',
              errors: ['routing_key or event_action'],
            },
          };
        }
        if (
          event.event_action === 'trigger' &&
          (!event.payload?.summary || !event.payload?.severity || !event.payload?.source)
        ) {
          return {
            status: 400,
            body: { status: 'invalid event', message: 'Event object is invalid', errors: ['payload'] },
          };
        }
        this.events.push(event);
        return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: event.dedup_key } };
      },
    });
  }
}

/** A statuspage.io page: GET /api/v2/status.json. */
export class StatusPageStandIn extends StandIn {
  indicator: string = 'none';
  description = 'All Systems Operational';

  constructor() {
    super({
      'GET /api/v2/status.json': () => ({
        status: 200,
        body: {
          page: {
            id: 'standin',
            name: 'Provider',
            url: this.url,
            time_zone: 'Etc/UTC',
            updated_at: new Date().toISOString(),
          },
          status: { indicator: this.indicator, description: this.description },
        },
      }),
    });
  }
}

interface LokiEntry {
  labels: Record<string, string>;
  tsNs: bigint;
  line: string;
}

/** Grafana Loki's push and query_range APIs, with stream selectors and line filters of LogQL. */
export class LokiStandIn extends StandIn {
  readonly entries: LokiEntry[] = [];

  constructor() {
    super({
      'POST /loki/api/v1/push': (req) => {
        const body = JSON.parse(req.body) as {
          streams: { stream: Record<string, string>; values: [string, string][] }[];
        };
        for (const s of body.streams)
          for (const [ts, line] of s.values) this.entries.push({ labels: s.stream, tsNs: BigInt(ts), line });
        return { status: 204, body: null };
      },
      'GET /loki/api/v1/query_range': (_req, url) => {
        let query: ReturnType<typeof parseLogQL>;
        try {
          query = parseLogQL(url.searchParams.get('query') ?? '');
        } catch (err) {
          return { status: 400, body: { status: 'error', errorType: 'bad_data', error: (err as Error).message } };
        }
        const start = BigInt(url.searchParams.get('start') ?? '0');
        const end = BigInt(url.searchParams.get('end') ?? `${BigInt(Date.now()) * 1_000_000n}`);
        const limit = Number(url.searchParams.get('limit') ?? 100);
        const matched = this.entries
          .filter((e) => e.tsNs >= start && e.tsNs <= end && query.matches(e))
          .sort((a, b) => (a.tsNs < b.tsNs ? 1 : -1))
          .slice(0, limit);
        const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
        for (const e of matched) {
          const key = JSON.stringify(e.labels);
          if (!streams.has(key)) streams.set(key, { stream: e.labels, values: [] });
          streams.get(key)!.values.push([String(e.tsNs), e.line]);
        }
        return {
          status: 200,
          body: { status: 'success', data: { resultType: 'streams', result: [...streams.values()], stats: {} } },
        };
      },
    });
  }

  push(labels: Record<string, string>, line: string, at = Date.now()): void {
    this.entries.push({ labels, tsNs: BigInt(at) * 1_000_000n, line });
  }
}

export function parseLogQL(query: string): { matches(e: LokiEntry): boolean } {
  const selector = /^\s*\{([^}]*)\}/.exec(query);
  if (!selector) throw new Error(`parse error: expected a stream selector in ${JSON.stringify(query)}`);
  const labelMatchers = [...selector[1].matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
    ([, name, op, raw]) => ({
      name,
      op,
      value: JSON.parse(`"${raw}"`) as string,
    }),
  );
  const filters = [...query.slice(selector[0].length).matchAll(/(\|=|\|~|!=|!~)\s*"((?:[^"\\]|\\.)*)"/g)].map(
    ([, op, raw]) => ({
      op,
      value: JSON.parse(`"${raw}"`) as string,
    }),
  );
  const regex = (v: string) => {
    const flags = v.startsWith('(?i)') ? 'i' : '';
    return new RegExp(v.replace(/^\(\?i\)/, ''), flags);
  };
  return {
    matches(e) {
      for (const m of labelMatchers) {
        const actual = e.labels[m.name] ?? '';
        const ok =
          m.op === '='
            ? actual === m.value
            : m.op === '!='
              ? actual !== m.value
              : regex(`^(?:${m.value})$`).test(actual) === (m.op === '=~');
        if (!ok) return false;
      }
      for (const f of filters) {
        const ok =
          f.op === '|='
            ? e.line.includes(f.value)
            : f.op === '!='
              ? !e.line.includes(f.value)
              : regex(f.value).test(e.line) === (f.op === '|~');
        if (!ok) return false;
      }
      return true;
    },
  };
}

export interface StoredSpan {
  traceId: string;
  service: string;
  environment: string;
  operation: string;
  route: string;
  error: boolean;
  exceptionType?: string;
  message?: string;
  stack?: string;
  startUs: number;
}

/** Jaeger's query API: GET /api/traces?service=&tags=&start=&end=&limit=. */
export class JaegerStandIn extends StandIn {
  readonly spans: StoredSpan[] = [];

  constructor() {
    super({
      'GET /api/traces': (_req, url) => {
        const service = url.searchParams.get('service');
        if (!service)
          return { status: 400, body: { data: null, errors: [{ code: 400, msg: "parameter 'service' is required" }] } };
        const tags = JSON.parse(url.searchParams.get('tags') ?? '{}') as Record<string, string>;
        const start = Number(url.searchParams.get('start') ?? 0);
        const end = Number(url.searchParams.get('end') ?? Number.MAX_SAFE_INTEGER);
        const hits = this.spans.filter(
          (s) =>
            s.service === service &&
            s.startUs >= start &&
            s.startUs <= end &&
            (tags.error === undefined || String(s.error) === tags.error) &&
            (tags['deployment.environment'] === undefined || s.environment === tags['deployment.environment']) &&
            (tags['http.route'] === undefined || s.route === tags['http.route']),
        );
        const data = hits.map((s) => ({
          traceID: s.traceId,
          spans: [
            {
              traceID: s.traceId,
              spanID: s.traceId.slice(0, 16),
              operationName: s.operation,
              startTime: s.startUs,
              duration: 1000,
              tags: [
                { key: 'http.route', type: 'string', value: s.route },
                { key: 'error', type: 'bool', value: s.error },
              ],
              logs: s.exceptionType
                ? [
                    {
                      timestamp: s.startUs,
                      fields: [
                        { key: 'event', type: 'string', value: 'exception' },
                        { key: 'exception.type', type: 'string', value: s.exceptionType },
                        { key: 'exception.message', type: 'string', value: s.message ?? '' },
                        { key: 'exception.stacktrace', type: 'string', value: s.stack ?? '' },
                      ],
                    },
                  ]
                : [],
              processID: 'p1',
            },
          ],
          processes: {
            p1: {
              serviceName: s.service,
              tags: [{ key: 'deployment.environment', type: 'string', value: s.environment }],
            },
          },
        }));
        return { status: 200, body: { data, total: data.length, limit: 0, offset: 0, errors: null } };
      },
    });
  }
}
