// Error logs from Loki's HTTP API: which requests failed, and whether they cluster on a tenant
// or a feature flag.
import type { Deps } from './deps';
import { fetchJson, fill, observe, type Observed } from './http';
import type { Scope } from './prometheus';

interface LokiStreams {
  status: string;
  data: { resultType: string; result: { stream: Record<string, string>; values: [string, string][] }[] };
}

export interface LogLine {
  ts: number;
  fields: Record<string, string>;
  line: string;
}

export interface ErrorLogSummary {
  lines: number;
  byRoute: Record<string, number>;
  requestIds: string[];
  /** Share of error lines per tenant / flag, largest first (top 5). */
  tenants: { name: string; count: number; share: number }[];
  flags: { name: string; count: number; share: number }[];
  topMessages: { message: string; count: number }[];
}

export interface SpikeReport {
  lines: number;
  perBucket: number[];
  median: number;
  peak: number;
  spike: boolean;
}

const FIELD_ALIASES: Record<string, string[]> = {
  route: ['route', 'http_route', 'path'],
  requestId: ['request_id', 'requestId', 'req_id', 'trace_id'],
  tenant: ['tenant', 'tenant_id', 'tenantId'],
  flag: ['flag', 'feature_flag', 'flags'],
  message: ['msg', 'message', 'error', 'err'],
};

/** Accepts JSON lines and logfmt lines; anything else keeps just the raw text. */
export function parseLogLine(line: string): Record<string, string> {
  const raw: Record<string, unknown> = {};
  const trimmed = line.trim();
  if (trimmed.startsWith('{')) {
    try {
      Object.assign(raw, JSON.parse(trimmed));
    } catch {
      /* not JSON after all */
    }
  } else {
    for (const m of trimmed.matchAll(/([\w.-]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g)) raw[m[1]] = m[2] ?? m[3];
  }
  const out: Record<string, string> = {};
  for (const [field, names] of Object.entries(FIELD_ALIASES)) {
    const hit = names.find((n) => raw[n] !== undefined && raw[n] !== null && raw[n] !== '');
    if (hit) out[field] = Array.isArray(raw[hit]) ? (raw[hit] as unknown[]).join(',') : String(raw[hit]);
  }
  if (!out.message) out.message = trimmed.slice(0, 200);
  return out;
}

function top(counts: Map<string, number>, total: number, n = 5) {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, count]) => ({ name, count, share: total ? count / total : 0 }));
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function createLokiActivities({ config }: Deps) {
  const loki = config.dataSources.loki;
  const notConfigured = { available: false as const, reason: 'Loki not configured (LOKI_URL)' };

  async function queryLines(query: string, startMs: number, endMs: number, limit: number): Promise<LogLine[]> {
    const params = new URLSearchParams({
      query,
      start: `${BigInt(Math.floor(startMs)) * 1_000_000n}`,
      end: `${BigInt(Math.ceil(endMs)) * 1_000_000n}`,
      limit: String(limit),
      direction: 'backward',
    });
    const res = await fetchJson<LokiStreams>(`${loki.url!.replace(/\/$/, '')}/loki/api/v1/query_range?${params}`);
    const lines: LogLine[] = [];
    for (const stream of res.data.result) {
      for (const [ns, line] of stream.values) {
        lines.push({ ts: Number(BigInt(ns) / 1_000_000n), fields: { ...stream.stream, ...parseLogLine(line) }, line });
      }
    }
    return lines.sort((a, b) => a.ts - b.ts);
  }

  const errorQuery = (scope: Scope, routes: string[] = []) =>
    `${fill(loki.selector, scope)} ${loki.errorFilter}` +
    (routes.length ? ` |~ ${JSON.stringify(routes.map(escapeRegex).join('|'))}` : '');

  return {
    /** Error lines for the elevated routes, with request ids and tenant / flag correlation. */
    async errorLogs(
      input: Scope & { routes: string[]; startMs: number; endMs: number },
    ): Promise<Observed<ErrorLogSummary>> {
      if (!loki.url) return notConfigured;
      const query = errorQuery(input, input.routes);
      return observe(async () => {
        const lines = await queryLines(query, input.startMs, input.endMs, 2000);
        const byRoute: Record<string, number> = {};
        const tenants = new Map<string, number>();
        const flags = new Map<string, number>();
        const messages = new Map<string, number>();
        const requestIds: string[] = [];
        for (const { fields } of lines) {
          if (fields.route) byRoute[fields.route] = (byRoute[fields.route] ?? 0) + 1;
          if (fields.tenant) tenants.set(fields.tenant, (tenants.get(fields.tenant) ?? 0) + 1);
          for (const f of (fields.flag ?? '').split(',').filter(Boolean)) flags.set(f, (flags.get(f) ?? 0) + 1);
          messages.set(fields.message, (messages.get(fields.message) ?? 0) + 1);
          if (fields.requestId && requestIds.length < 20) requestIds.push(fields.requestId);
        }
        return {
          lines: lines.length,
          byRoute,
          requestIds,
          tenants: top(tenants, lines.length),
          flags: top(flags, lines.length),
          topMessages: top(messages, lines.length).map(({ name, count }) => ({ message: name, count })),
        };
      }, query);
    },

    /** Error lines per bucket over a window; a bucket above factor × the median is a new spike. */
    async logSpikes(
      input: Scope & { startMs: number; endMs: number; bucketMs: number; factor: number },
    ): Promise<Observed<SpikeReport>> {
      if (!loki.url) return notConfigured;
      const query = errorQuery(input);
      return observe(async () => {
        const lines = await queryLines(query, input.startMs, input.endMs, 5000);
        const buckets = Math.max(1, Math.ceil((input.endMs - input.startMs) / input.bucketMs));
        const perBucket = new Array<number>(buckets).fill(0);
        for (const l of lines)
          perBucket[Math.min(buckets - 1, Math.max(0, Math.floor((l.ts - input.startMs) / input.bucketMs)))] += 1;
        const sorted = [...perBucket].sort((a, b) => a - b);
        const median = sorted[Math.floor(sorted.length / 2)];
        const peak = sorted[sorted.length - 1];
        // A bucket of a handful of lines is noise, not a spike.
        const spike = peak >= 5 && peak > input.factor * Math.max(median, 1);
        return { lines: lines.length, perBucket, median, peak, spike };
      }, query);
    },
  };
}
