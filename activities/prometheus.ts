// The API Reliability dashboard's numbers, straight from Prometheus' HTTP API.
import type { Deps } from './deps';
import { fetchJson, fill, observe, SourceError, type Observed } from './http';

export interface Scope {
  service: string;
  environment: string;
}

export interface RouteRatio {
  route: string;
  ratio: number;
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

export function createPrometheusActivities({ config }: Deps) {
  const prom = config.dataSources.prometheus;
  const ratioQuery = (scope: Scope, by: string) => {
    const sel = fill(prom.selector, scope);
    const grouping = by ? ` by (${by})` : '';
    return (
      `sum${grouping} (rate(${prom.metric}{${sel},status=~"5.."}[${prom.rateWindow}]))` +
      ` / sum${grouping} (rate(${prom.metric}{${sel}}[${prom.rateWindow}]))`
    );
  };
  const notConfigured = { available: false as const, reason: 'Prometheus not configured (PROMETHEUS_URL)' };

  const scalar = async (query: string): Promise<number | null> => {
    const rows = await instant(prom.url!, query);
    const value = rows.length ? Number(rows[0].value[1]) : NaN;
    return Number.isFinite(value) ? value : null;
  };

  return {
    /** The app's own provider error ratio, p99 latency (ms) and quality signal; null where it has none. */
    async providerMetrics(
      scope: Scope,
    ): Promise<Observed<{ errorRatio: number | null; p99Ms: number | null; quality: number | null }>> {
      if (!prom.url) return notConfigured;
      const q = config.dataSources.llmProvider;
      return observe(
        async () => {
          const [errorRatio, p99s, quality] = await Promise.all([
            scalar(fill(q.errorRatioQuery, scope)),
            scalar(fill(q.latencyP99Query, scope)),
            q.qualityQuery ? scalar(fill(q.qualityQuery, scope)) : Promise.resolve(null),
          ]);
          return { errorRatio, p99Ms: p99s === null ? null : p99s * 1000, quality };
        },
        fill(q.errorRatioQuery, scope),
      );
    },

    /** Which routes exhibit elevated 5xx: the ratio per route, worst first. */
    async errorRatioByRoute(scope: Scope): Promise<Observed<RouteRatio[]>> {
      if (!prom.url) return notConfigured;
      const query = ratioQuery(scope, 'route');
      return observe(async () => {
        const rows = await instant(prom.url!, query);
        return rows
          .map((r) => ({ route: r.metric.route ?? '(none)', ratio: Number(r.value[1]) }))
          .filter((r) => Number.isFinite(r.ratio))
          .sort((a, b) => b.ratio - a.ratio);
      }, query);
    },

    /** The service's overall 5xx ratio now (null when there is no traffic). */
    async errorRatio(scope: Scope): Promise<Observed<number | null>> {
      if (!prom.url) return notConfigured;
      const query = ratioQuery(scope, '');
      return observe(() => scalar(query), query);
    },
  };
}
