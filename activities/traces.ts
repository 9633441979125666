// Error traces from a Jaeger-compatible query API (`GET /api/traces`): the exception type and
// stack of the failing spans on the elevated routes.
import type { Deps } from './deps';
import { fetchJson, observe, type Observed } from './http';
import type { Scope } from './prometheus';

interface JaegerTag {
  key: string;
  value: unknown;
}
interface JaegerSpan {
  traceID: string;
  operationName: string;
  tags: JaegerTag[];
  logs?: { timestamp: number; fields: JaegerTag[] }[];
}
interface JaegerTraces {
  data: { traceID: string; spans: JaegerSpan[] }[];
}

export interface TraceException {
  route: string;
  exceptionType: string;
  message: string;
  stack: string;
  count: number;
  traceIds: string[];
}

const tag = (tags: JaegerTag[] | undefined, key: string) => {
  const t = tags?.find((x) => x.key === key);
  return t === undefined ? undefined : String(t.value);
};

export function createTraceActivities({ config }: Deps) {
  const url = config.dataSources.traces.url;
  return {
    async errorTraces(
      input: Scope & { routes: string[]; startMs: number; endMs: number },
    ): Promise<Observed<TraceException[]>> {
      if (!url)
        return { available: false, reason: 'traces backend not configured (TRACES_URL): trace inspection skipped' };
      return observe(async () => {
        const found = new Map<string, TraceException>();
        for (const route of input.routes.length ? input.routes : ['']) {
          // Jaeger matches tags on spans and on the process (resource) alike.
          const tags: Record<string, string> = { error: 'true', 'deployment.environment': input.environment };
          if (route) tags['http.route'] = route;
          const params = new URLSearchParams({
            service: input.service,
            tags: JSON.stringify(tags),
            start: String(input.startMs * 1000),
            end: String(input.endMs * 1000),
            limit: '50',
          });
          const res = await fetchJson<JaegerTraces>(`${url.replace(/\/$/, '')}/api/traces?${params}`);
          for (const trace of res.data) {
            for (const span of trace.spans) {
              if (tag(span.tags, 'error') !== 'true') continue;
              const fields = span.logs?.flatMap((l) => l.fields) ?? [];
              const type = tag(fields, 'exception.type') ?? tag(span.tags, 'exception.type') ?? 'unknown';
              const spanRoute = tag(span.tags, 'http.route') ?? (route || span.operationName);
              const key = `${spanRoute}|${type}`;
              const entry = found.get(key) ?? {
                route: spanRoute,
                exceptionType: type,
                message: tag(fields, 'exception.message') ?? tag(span.tags, 'otel.status_description') ?? '',
                stack: (tag(fields, 'exception.stacktrace') ?? '').split('\n').slice(0, 8).join('\n'),
                count: 0,
                traceIds: [],
              };
              entry.count += 1;
              if (entry.traceIds.length < 5 && !entry.traceIds.includes(trace.traceID))
                entry.traceIds.push(trace.traceID);
              found.set(key, entry);
            }
          }
        }
        return [...found.values()].sort((a, b) => b.count - a.count);
      });
    },
  };
}
