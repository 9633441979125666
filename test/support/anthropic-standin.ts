// A local server speaking Anthropic's Messages API (POST /v1/messages): the real success and error
// bodies, request-id and rate-limit headers, so the provider probe is tested through the real SDK.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { secret } from './secrets';

export type AnthropicErrorStatus = 400 | 401 | 403 | 404 | 429 | 500 | 529;
export type AnthropicStandInMode = 'ok' | 'slow' | AnthropicErrorStatus;

export interface AnthropicRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const ERRORS: Record<AnthropicErrorStatus, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' },
  404: { type: 'not_found_error', message: 'Not Found' },
  429: {
    type: 'rate_limit_error',
    message:
      'This request would exceed the rate limit for your organization of 50 requests per minute. Please reduce the rate of your requests.',
  },
  500: { type: 'api_error', message: 'Internal server error' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const randomId = (prefix: string) => prefix + [...randomBytes(24)].map((b) => BASE62[b % 62]).join('');

function error(status: keyof typeof ERRORS, message = ERRORS[status].message): Answer {
  return { status, body: { type: 'error', error: { type: ERRORS[status].type, message } } };
}

export class AnthropicStandIn {
  readonly requests: AnthropicRequest[] = [];
  mode: AnthropicStandInMode = 'ok';
  /** Before answering in mode 'ok'. */
  delayMs = 0;
  /** How long mode 'slow' holds the answer: longer than any probe timeout. */
  slowMs = 30_000;
  /** The retry-after a 429 asks for, in seconds. */
  retryAfterSeconds = 30;
  /**
   * The model ids the API serves; null serves any. A model not in the list is answered as the API
   * answers a retired or mistyped model: 404 not_found_error "model: <id>".
   */
  models: string[] | null = null;
  url = '';
  private rate = 0;
  private okCount = 0;
  private server?: http.Server;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly apiKey = secret('ANTHROPIC_API_KEY', 'sk-ant-api03-')) {}

  /** Share (0..1) of mode-'ok' requests answered 500: every round(1/rate)-th, counted from when it is set. */
  get errorRate(): number {
    return this.rate;
  }

  set errorRate(rate: number) {
    this.rate = rate;
    this.okCount = 0;
  }

  async listen(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: AnthropicRequest = {
          method: req.method ?? 'GET',
          path: new URL(req.url ?? '/', 'http://standin').pathname,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(rec);
        void this.answer(rec).then((out) => this.send(res, out));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  /** Admin API: update an API key's name or status. */
  private updateKey(req: AnthropicRequest, id: string): Answer {
    if (req.headers['x-api-key'] !== this.adminKey) return error(401);
    if (!this.keyStatus.has(id)) return error(404);
    const body = JSON.parse(req.body || '{}') as { status?: string };
    if (body.status) this.keyStatus.set(id, body.status);
    return {
      status: 200,
      headers: {},
      body: {
        id,
        type: 'api_key',
        name: 'production',
        status: this.keyStatus.get(id),
        partial_key_hint: 'sk-ant-api03-R2D...igAA',
      },
    };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** The Admin API key (x-api-key) and the API keys' statuses it manages, by id. */
  adminKey = secret('ANTHROPIC_ADMIN_KEY', 'sk-ant-admin01-');
  readonly keyStatus = new Map<string, string>();

  private async answer(req: AnthropicRequest): Promise<Answer> {
    const admin = /^\/v1\/organizations\/api_keys\/([^/]+)$/.exec(req.path);
    if (req.method === 'POST' && admin) return this.updateKey(req, decodeURIComponent(admin[1]));
    if (req.method !== 'POST' || req.path !== '/v1/messages') return error(404);
    // The API checks the key before anything else, whatever state it is in. It takes the key in either
    // header: x-api-key (curl, SDKs before 1.0) or Authorization: Bearer (SDK 1.x, API version 2026-10-21).
    const sent = req.headers['x-api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '');
    if (sent !== this.apiKey) return error(401);
    if (!req.headers['anthropic-version']) return error(400, 'anthropic-version: header is required');
    let body: { model?: unknown; max_tokens?: unknown; messages?: unknown };
    try {
      body = JSON.parse(req.body) as typeof body;
    } catch {
      return error(400, 'There was an error parsing the body of your request.');
    }
    if (typeof body.model !== 'string') return error(400, 'model: Field required');
    if (typeof body.max_tokens !== 'number') return error(400, 'max_tokens: Field required');
    if (!Array.isArray(body.messages) || body.messages.length === 0) return error(400, 'messages: Field required');
    if (this.models && !this.models.includes(body.model)) return error(404, `model: ${body.model}`);
    switch (this.mode) {
      case 'slow':
        await this.sleep(this.slowMs);
        return this.message(body.model);
      case 'ok': {
        await this.sleep(this.delayMs);
        this.okCount++;
        const every = this.rate > 0 ? Math.max(1, Math.round(1 / this.rate)) : 0;
        return every && this.okCount % every === 0 ? error(500) : this.message(body.model);
      }
      case 429:
        return { ...error(429), headers: { 'retry-after': String(this.retryAfterSeconds) } };
      case 404:
        return error(404, `model: ${body.model}`);
      default:
        return error(this.mode);
    }
  }

  private message(model: string): Answer {
    return {
      status: 200,
      body: {
        id: randomId('msg_01'),
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text: '1' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: {
          input_tokens: 8,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          output_tokens: 5,
          service_tier: 'standard',
        },
      },
    };
  }

  /** What every response carries; a 429 shows the request budget spent. */
  private rateLimitHeaders(status: number): Record<string, string> {
    const reset = (s: number) => new Date(Math.ceil(Date.now() / 1000 + s) * 1000).toISOString().replace('.000', '');
    const limited = status === 429;
    return {
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': limited ? '0' : '49',
      'anthropic-ratelimit-requests-reset': reset(limited ? 30 : 1),
      'anthropic-ratelimit-tokens-limit': '50000',
      'anthropic-ratelimit-tokens-remaining': '49000',
      'anthropic-ratelimit-tokens-reset': reset(1),
      'anthropic-ratelimit-input-tokens-limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '39000',
      'anthropic-ratelimit-input-tokens-reset': reset(1),
      'anthropic-ratelimit-output-tokens-limit': '10000',
      'anthropic-ratelimit-output-tokens-remaining': '10000',
      'anthropic-ratelimit-output-tokens-reset': reset(1),
    };
  }

  private send(res: http.ServerResponse, out: Answer): void {
    // The client may have given up (timeout) and closed the socket meanwhile.
    if (res.destroyed) return;
    const requestId = randomId('req_01');
    // Error bodies repeat the header's request id.
    const body = out.status >= 400 ? { ...(out.body as object), request_id: requestId } : out.body;
    res.writeHead(out.status, {
      'content-type': 'application/json',
      'request-id': requestId,
      ...this.rateLimitHeaders(out.status),
      ...out.headers,
    });
    res.end(JSON.stringify(body));
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }
}
