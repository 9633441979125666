// The automated steps of catalogue documents: a read-only SQL check on the telemetry database, a
// PromQL query, an HTTP health check. Each answers the output the document's expectation is
// compared with; a source that cannot be reached is a finding, not a crash.
import type { QueryConfig } from 'pg';
import type { CheckKind } from '../catalogue/document';
import { fillVars } from '../config/action-plan';
import type { Deps } from './deps';
import { fetchWithCredentials, observe, type Observed } from './http';

export function createCatalogueActivities({ config, telemetry }: Deps) {
  return {
    async catalogueCheck(input: {
      kind: CheckKind;
      body: string;
      vars: Record<string, string>;
    }): Promise<Observed<{ output: string; detail: string }>> {
      const body = fillVars(input.body, input.vars);
      return observe(
        async () => {
          const unfilled = body.match(/\{(\w+)\}/);
          if (unfilled)
            throw new Error(`not configured: {${unfilled[1]}} (set it under the runbook's params.vars in config)`);
          if (input.kind === 'sql') {
            const client = await telemetry.connect();
            try {
              // The document's query cannot change anything, whatever it says: a read-only
              // transaction, and the extended protocol, which takes one statement (no `; COMMIT; ...`).
              await client.query("BEGIN READ ONLY; SET LOCAL statement_timeout = '30s'");
              const oneStatement: QueryConfig & { queryMode: 'extended' } = { text: body, queryMode: 'extended' };
              const { rows } = await client.query<Record<string, unknown>>(oneStatement);
              const first = rows[0] ? Object.values(rows[0])[0] : null;
              return { output: String(first ?? ''), detail: JSON.stringify(rows.slice(0, 20)) };
            } finally {
              await client.query('ROLLBACK').catch(() => undefined);
              client.release();
            }
          }
          if (input.kind === 'promql') {
            const url = config.dataSources.prometheus.url;
            if (!url) throw new Error('Prometheus not configured (PROMETHEUS_URL)');
            const res = await fetchWithCredentials(
              `${url.replace(/\/$/, '')}/api/v1/query?${new URLSearchParams({ query: body })}`,
              {
                signal: AbortSignal.timeout(10_000),
              },
            );
            const json = (await res.json()) as { data?: { result?: { value: [number, string] }[] }; error?: string };
            if (!res.ok) throw new Error(`prometheus answered ${res.status}: ${json.error ?? ''}`);
            const value = json.data?.result?.[0]?.value[1] ?? '';
            return { output: value, detail: JSON.stringify(json.data?.result?.slice(0, 10) ?? []) };
          }
          const [method, url] = body.split(/\s+/);
          const res = await fetchWithCredentials(url, { method, signal: AbortSignal.timeout(10_000) });
          const text = method === 'HEAD' ? '' : (await res.text()).slice(0, 500);
          return { output: String(res.status), detail: text };
          // What is recorded of the check (its query) names a URL without its credentials.
        },
        body.replace(/\/\/[^/@\s]*@/g, '//'),
      );
    },
  };
}
