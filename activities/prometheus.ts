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

  return {
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
      return observe(async () => {
        const rows = await instant(prom.url!, query);
        const value = rows.length ? Number(rows[0].value[1]) : NaN;
        return Number.isFinite(value) ? value : null;
      }, query);
    },
  };
}
