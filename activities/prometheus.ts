// The API Reliability dashboard's numbers, straight from Prometheus' HTTP API.
import type { Deps } from './deps';
import { drillSource } from './drill-guard';
import { fetchJson, fill, observe, SourceError, type Observed } from './http';

export interface Scope {
  service: string;
  environment: string;
  /**
   * A drill's own Prometheus (its DrillContext.prometheusUrl), read instead of the configured one.
   * Only an endpoint this worker started for a drill is read; any other value is refused.
   */
  source?: string;
}

export interface RouteRatio {
  route: string;
  ratio: number;
}

export interface RouteSeries {
  route: string;
  /** [unix ms, 5xx ratio] in time order; steps without traffic are left out. */
  points: [number, number][];
}

interface PromMatrix {
  status: 'success' | 'error';
  data: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
  error?: string;
}

interface PromVector {
  status: 'success' | 'error';
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
  error?: string;
}

async function instant(url: string, query: string): Promise<PromVector['data']['result']> {
  const body = new URLSearchParams({ query });
  const res = await fetchJson<PromVector>(`${url.replace(/\/$/, '')}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  if (res.status !== 'success') throw new SourceError(`prometheus: ${res.error ?? 'query failed'}`);
  return res.data.result;
}

async function range(url: string, query: string, startMs: number, endMs: number, stepMs: number) {
  const body = new URLSearchParams({
    query,
    start: String(startMs / 1000),
    end: String(endMs / 1000),
    step: `${stepMs / 1000}s`,
  });
  const res = await fetchJson<PromMatrix>(`${url.replace(/\/$/, '')}/api/v1/query_range`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  if (res.status !== 'success') throw new SourceError(`prometheus: ${res.error ?? 'query failed'}`);
  return res.data.result;
}

export function createPrometheusActivities({ config }: Deps) {
  const prom = config.dataSources.prometheus;
  const ratioQuery = (scope: Scope, by: string) => {
    const sel = fill(prom.selector, scope);
    const grouping = by ? ` by (${by})` : '';
    const all = `sum${grouping} (rate(${prom.metric}{${sel}}[${prom.rateWindow}]))`;
    // A route with traffic and no 5xx series yet is at 0 %, not missing: without the `or`, the
    // division drops it and "no errors" would read as "no data".
    return `(sum${grouping} (rate(${prom.metric}{${sel},status=~"5.."}[${prom.rateWindow}])) or ${all} * 0) / ${all}`;
  };
  const notConfigured = { available: false as const, reason: 'Prometheus not configured (PROMETHEUS_URL)' };
  /** Where this read goes: the configured Prometheus, or a drill's own endpoint; else why not. */
  const sourceOf = (scope: Scope): { url: string } | { available: false; reason: string } => {
    if (scope.source === undefined) return prom.url ? { url: prom.url } : notConfigured;
    const drill = drillSource(scope.source);
    return 'url' in drill ? drill : { available: false, reason: drill.refused };
  };

  const scalar = async (url: string, query: string): Promise<number | null> => {
    const rows = await instant(url, query);
    const value = rows.length ? Number(rows[0].value[1]) : NaN;
    return Number.isFinite(value) ? value : null;
  };

  return {
    /** The app's own provider error ratio, p99 latency (ms) and quality signal; null where it has none. */
    async providerMetrics(
      scope: Scope,
    ): Promise<Observed<{ errorRatio: number | null; p99Ms: number | null; quality: number | null }>> {
      const src = sourceOf(scope);
      if (!('url' in src)) return src;
      const q = config.dataSources.llmProvider;
      return observe(
        async () => {
          const [errorRatio, p99s, quality] = await Promise.all([
            scalar(src.url, fill(q.errorRatioQuery, scope)),
            scalar(src.url, fill(q.latencyP99Query, scope)),
            q.qualityQuery ? scalar(src.url, fill(q.qualityQuery, scope)) : Promise.resolve(null),
          ]);
          return { errorRatio, p99Ms: p99s === null ? null : p99s * 1000, quality };
        },
        fill(q.errorRatioQuery, scope),
      );
    },

    /** Which routes exhibit elevated 5xx: the ratio per route, worst first. */
    async errorRatioByRoute(scope: Scope): Promise<Observed<RouteRatio[]>> {
      const src = sourceOf(scope);
      if (!('url' in src)) return src;
      const query = ratioQuery(scope, 'route');
      return observe(async () => {
        const rows = await instant(src.url, query);
        return rows
          .map((r) => ({ route: r.metric.route ?? '(none)', ratio: Number(r.value[1]) }))
          .filter((r) => Number.isFinite(r.ratio))
          .sort((a, b) => b.ratio - a.ratio);
      }, query);
    },

    /** The 5xx ratio per route over a past stretch of time: did errors rise after a change? */
    async errorRatioSeries(
      input: Scope & { startMs: number; endMs: number; stepMs: number },
    ): Promise<Observed<RouteSeries[]>> {
      const src = sourceOf(input);
      if (!('url' in src)) return src;
      const query = ratioQuery(input, 'route');
      // Steps counted back from the end, so the newest point is the end itself, not up to a step before it.
      const stepMs = Math.max(1000, Math.round(input.stepMs / 1000) * 1000);
      const startMs = input.endMs - Math.ceil((input.endMs - input.startMs) / stepMs) * stepMs;
      return observe(async () => {
        const rows = await range(src.url, query, startMs, input.endMs, stepMs);
        return rows.map((r) => ({
          route: r.metric.route ?? '(none)',
          points: r.values
            .map(([t, v]): [number, number] => [Math.round(t * 1000), Number(v)])
            .filter(([, v]) => Number.isFinite(v)),
        }));
      }, query);
    },

    /**
     * The 5xx ratio over a whole window and the requests it is taken from: what "below 0.2 % over
     * 15 minutes" asks. No requests at all is no data (null), not 0 %.
     */
    async errorRatioOver(
      input: Scope & { windowMs: number },
    ): Promise<Observed<{ ratio: number | null; requests: number }>> {
      const src = sourceOf(input);
      if (!('url' in src)) return src;
      const sel = fill(prom.selector, input);
      const w = `${Math.max(1, Math.round(input.windowMs / 1000))}s`;
      const errors = `sum(increase(${prom.metric}{${sel},status=~"5.."}[${w}]))`;
      const total = `sum(increase(${prom.metric}{${sel}}[${w}]))`;
      return observe(async () => {
        const [e, t] = await Promise.all([scalar(src.url, errors), scalar(src.url, total)]);
        const requests = Math.round(t ?? 0);
        // A service with traffic and no 5xx series at all has had no 5xx.
        return { ratio: requests > 0 ? (e ?? 0) / (t as number) : null, requests };
      }, `${errors} / ${total}`);
    },

    /** The service's overall 5xx ratio now (null when there is no traffic). */
    async errorRatio(scope: Scope): Promise<Observed<number | null>> {
      const src = sourceOf(scope);
      if (!('url' in src)) return src;
      const query = ratioQuery(scope, '');
      return observe(() => scalar(src.url, query), query);
    },
  };
}
