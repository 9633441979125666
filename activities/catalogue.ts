// The automated steps of catalogue documents: a read-only SQL check on the telemetry database, a
// PromQL query, an HTTP health check. Each answers the output the document's expectation is
// compared with; a source that cannot be reached is a finding, not a crash.
//
// What runs is the worker's own document (catalogue/runbooks/<id>.md, read here), looked up by
// runbook id and step id: never a query, URL or command from the workflow's input. A `check http`
// reaches only the hosts the operator configured (httpCheckHosts), redirects included.
import type { QueryConfig } from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import type { CheckKind, DocumentStep, RunbookDocument } from '../catalogue/document';
import { loadDocument } from '../catalogue/load';
import { fillVars } from '../config/action-plan';
import type { Config } from '../config/schema';
import { CATALOGUE_RUNBOOKS, type RunbookId } from '../workflows/definitions';
import type { Deps } from './deps';
import { fetchWithCredentials, observe, type Observed } from './http';

export type CheckOutput = Observed<{ output: string; detail: string }>;

/** A document step's check: its output, or why not; `missing` when the worker's document no longer has it. */
export type DocumentCheckResult = CheckOutput & { missing?: true };

const MAX_REDIRECTS = 5;

/**
 * The hosts a document's `check http` may reach: each a `hostname:port`, or a bare `hostname` for
 * any port. The data sources' hosts, config `catalogue.httpHosts`, the URLs among this config's
 * catalogue `vars`, and the provider's ANTHROPIC_BASE_URL.
 */
export function httpCheckHosts(config: Config, env: NodeJS.ProcessEnv): Set<string> {
  const hosts = new Set<string>();
  const addUrl = (url: string | undefined) => {
    if (!url) return;
    try {
      const u = new URL(url);
      if (u.protocol === 'http:' || u.protocol === 'https:') hosts.add(hostPort(u));
    } catch {
      // Not a URL: nothing to allow.
    }
  };
  const ds = config.dataSources;
  [ds.prometheus.url, ds.loki.url, ds.traces.url, env.ANTHROPIC_BASE_URL].forEach(addUrl);
  ds.statusPages.forEach((p) => addUrl(p.url));
  ds.otelEndpoints.forEach(addUrl);
  // A TLS endpoint whose certificate is watched answers HTTPS on that port.
  ds.tlsEndpoints.forEach((e) => addUrl(`https://${e}`));
  const vars = (params: Record<string, unknown> | undefined) =>
    params?.vars && typeof params.vars === 'object' ? Object.values(params.vars as Record<string, unknown>) : [];
  for (const value of [
    ...Object.values(config.runbooks).flatMap((r) => vars(r?.params)),
    ...config.routes.flatMap((r) => vars(r.params)),
  ])
    if (typeof value === 'string') addUrl(value);
  for (const entry of config.catalogue.httpHosts) {
    const u = new URL(`http://${entry}`);
    // `host:80` is written out; URL drops the scheme's default port.
    hosts.add(/:\d+$/.test(entry) ? `${u.hostname}:${u.port || '80'}` : u.hostname);
  }
  return hosts;
}

function hostPort(u: URL): string {
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

export function createCatalogueActivities({ config, telemetry, env, documents = loadDocument }: Deps) {
  const allowed = httpCheckHosts(config, env);
  const isAllowed = (u: URL) => allowed.has(hostPort(u)) || allowed.has(u.hostname);

  /** GET or HEAD, following redirects only within the allowed hosts. */
  async function httpCheck(method: string, url: string): Promise<{ output: string; detail: string }> {
    let current = new URL(url);
    if (current.protocol !== 'http:' && current.protocol !== 'https:')
      throw new Error(`check http reads http or https URLs, not ${current.protocol}`);
    if (!isAllowed(current))
      throw new Error(
        `not configured: ${current.host} is not an allowed host for check http (add it to catalogue.httpHosts in config, or configure it as a data source)`,
      );
    for (let hop = 0; ; hop++) {
      const res = await fetchWithCredentials(current.toString(), {
        method,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) {
        const text = method === 'HEAD' ? '' : (await res.text()).slice(0, 500);
        return { output: String(res.status), detail: text };
      }
      await res.body?.cancel();
      const next = new URL(location, current);
      if ((next.protocol !== 'http:' && next.protocol !== 'https:') || !isAllowed(next))
        throw new Error(
          `${current.host} redirected to ${next.host || next.protocol}, not an allowed host for check http: not followed (add it to catalogue.httpHosts in config to follow it)`,
        );
      if (hop + 1 >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
      // A URL's credentials go only where it points: carried within its origin, never to another.
      if (next.origin === current.origin && !next.username && !next.password) {
        next.username = current.username;
        next.password = current.password;
      }
      current = next;
    }
  }

  /** Runs one check as the worker's document has it, `{name}` filled from the runbook's vars. */
  function runCheck(check: { kind: CheckKind; body: string }, vars: Record<string, string>): Promise<CheckOutput> {
    const body = fillVars(check.body, vars);
    return observe(
      async () => {
        const unfilled = body.match(/\{(\w+)\}/);
        if (unfilled)
          throw new Error(`not configured: {${unfilled[1]}} (set it under the runbook's params.vars in config)`);
        if (check.kind === 'sql') {
          const client = await telemetry.connect();
          // A connection ended under the check (the database dropped, the server restarting) is this
          // check's error, and the client is discarded: never an uncaught error in the worker.
          let broken: Error | undefined;
          const onError = (err: Error) => (broken = err);
          client.on('error', onError);
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
            client.off('error', onError);
            client.release(broken);
          }
        }
        if (check.kind === 'promql') {
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
        return httpCheck(method, url);
      },
      // What is recorded of the check (its query) names a URL without its credentials.
      body.replace(/\/\/[^/@\s]*@/g, '//'),
    );
  }

  /** The worker's documents, those that load (a broken one refuses its runbook's start). */
  const catalogue = (): RunbookDocument[] =>
    CATALOGUE_RUNBOOKS.flatMap((id) => {
      try {
        return [documents(id)];
      } catch {
        return [];
      }
    });

  return {
    /** A catalogue runbook's document as this worker has it: the steps the guided runbook shows and runs. */
    async catalogueDocument(input: { runbook: RunbookId }): Promise<RunbookDocument> {
      if (!CATALOGUE_RUNBOOKS.includes(input.runbook))
        throw ApplicationFailure.nonRetryable(`${input.runbook} is not a catalogue runbook`, 'NoDocument');
      try {
        return documents(input.runbook);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, 'DocumentError');
      }
    },

    /**
     * Runs step `step` of runbook `runbook` as the worker's document has it now. A document that no
     * longer has that check (changed since the incident started) runs nothing: `missing`.
     */
    async documentCheck(input: {
      runbook: RunbookId;
      step: string;
      vars: Record<string, string>;
    }): Promise<DocumentCheckResult> {
      let doc: RunbookDocument;
      try {
        doc = documents(input.runbook);
      } catch (err) {
        return { available: false, reason: `the worker cannot read its document: ${(err as Error).message}` };
      }
      const step: DocumentStep | undefined = doc.steps.find((s) => s.id === input.step);
      if (!step?.check)
        return {
          available: false,
          missing: true,
          reason: `the worker's document of ${input.runbook} no longer has the check "${input.step}" (changed since the incident started): nothing was run`,
        };
      return runCheck(step.check, input.vars);
    },

    /**
     * Incidents started before checks were looked up by step send the check itself. It runs only
     * when it is word for word a check of one of the worker's documents; anything else is refused.
     */
    async catalogueCheck(input: { kind: CheckKind; body: string; vars: Record<string, string> }): Promise<CheckOutput> {
      const known = catalogue().some((d) =>
        d.steps.some((s) => s.check?.kind === input.kind && s.check.body === input.body),
      );
      if (!known)
        return {
          available: false,
          reason: `refused: this ${input.kind} check is not in the worker's documents (catalogue/runbooks), so it was not run`,
        };
      return runCheck({ kind: input.kind, body: input.body }, input.vars);
    },
  };
}
