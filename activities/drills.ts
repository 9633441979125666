// A drill's synthetic incident, set up before its runbook runs and taken down after: generated
// telemetry in a scratch database (drill_*) on this project's own Postgres server (the store's:
// the app's database may be one the runbook can only read), a change event for a
// drill-only service with a local endpoint answering Prometheus' API with the errors that rose
// after it, or a local endpoint failing the way the provider does.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerDrillEndpoint, unregisterDrillEndpoint } from './drill-guard';
import { generateTelemetry } from './telemetry-scenarios';
import type { DrillContext } from '../workflows/definitions';
import type { DrillReport } from '../workflows/drill';
import type { DrillSetup } from '../workflows/drills/scenarios';
import { migrate } from './db/migrate';
import type { StepRecord } from './db/incident-store';
import type { Deps } from './deps';

export interface PreparedDrill {
  service: string;
  environment: string;
  context: Omit<DrillContext, 'scenario'>;
  detail: string;
}

const PROVIDER_ERRORS: Record<429 | 500 | 529, { type: string; message: string }> = {
  429: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' },
  500: { type: 'api_error', message: 'Internal server error' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

/** Local endpoints (a failing provider, a drill's Prometheus) by drill id, in the worker that started them. */
const endpoints = new Map<string, { server: http.Server; url: string; changeAt?: string }>();

const listen = (server: http.Server): Promise<string> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });

function failingProvider(status: 429 | 500 | 529): http.Server {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, {
        'content-type': 'application/json',
        'request-id': `req_drill_${Date.now()}`,
        ...(status === 429 ? { 'retry-after': '1' } : {}),
      });
      res.end(JSON.stringify({ type: 'error', error: PROVIDER_ERRORS[status] }));
    });
  });
  return server;
}

/**
 * The api-error-budget drill's service: its routes, their traffic, and the 5xx ratio each has from
 * the change on (0 before it). Only /v1/chat fails, as after a bad deploy, secret or migration.
 */
export const DRILL_ROUTES = [
  { route: '/v1/chat', requestsPerSecond: 20, ratioAfterChange: 0.12 },
  { route: '/v1/embeddings', requestsPerSecond: 10, ratioAfterChange: 0 },
];

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A Prometheus time: unix seconds (fractions allowed) or RFC 3339. */
function promTime(value: string | null, fallbackMs: number): number {
  if (value === null || value === '') return fallbackMs;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value);
}

/** A Prometheus step or range: a duration (`15s`, `5m`) or plain seconds. */
function promDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  return m ? Number(m[1]) * DURATION_UNITS[m[2] ?? 's'] : NaN;
}

/**
 * What the drill's Prometheus answers for a query at `atMs`: the scenario's 5xx ratio, per route for
 * a query grouped `by (route)`, one series for the whole service otherwise, and for `increase(...)`
 * the requests (or, with `status=~"5.."`, the 5xx) over its range. It does not parse PromQL: any other
 * query has no series, as a metric Prometheus does not have.
 */
function drillSeries(
  query: string,
  atMs: number,
  changeAtMs: number,
): { metric: Record<string, string>; value: number }[] {
  const ratio = (r: (typeof DRILL_ROUTES)[number], t: number) => (t >= changeAtMs ? r.ratioAfterChange : 0);
  const errorsOnly = /status=~"5\.\."/.test(query);
  const increase = /increase\(.*\[([^\]]+)\]\)/.exec(query);
  if (increase) {
    const windowMs = promDuration(increase[1]);
    if (!Number.isFinite(windowMs)) return [];
    // Requests over the window; 5xx only from the change on.
    const failingMs = Math.max(0, Math.min(windowMs, atMs - changeAtMs));
    const value = DRILL_ROUTES.reduce(
      (n, r) => n + r.requestsPerSecond * (errorsOnly ? (r.ratioAfterChange * failingMs) / 1000 : windowMs / 1000),
      0,
    );
    return [{ metric: {}, value }];
  }
  if (!errorsOnly) return [];
  if (/by \(route\)/.test(query))
    return DRILL_ROUTES.map((r) => ({ metric: { route: r.route }, value: ratio(r, atMs) }));
  const total = DRILL_ROUTES.reduce((n, r) => n + r.requestsPerSecond, 0);
  return [{ metric: {}, value: DRILL_ROUTES.reduce((n, r) => n + r.requestsPerSecond * ratio(r, atMs), 0) / total }];
}

/** A local endpoint speaking Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`, GET or form POST). */
function drillPrometheus(changeAtMs: number): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const bad = (error: string) => send(400, { status: 'error', errorType: 'bad_data', error });
      const url = new URL(req.url ?? '/', 'http://drill');
      const params = new URLSearchParams(url.search);
      if (req.method === 'POST')
        for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) params.set(k, v);
      const query = params.get('query');
      if (url.pathname !== '/api/v1/query' && url.pathname !== '/api/v1/query_range')
        return send(404, { status: 'error', errorType: 'not_found', error: `no ${url.pathname} here` });
      if (!query) return bad('missing query');
      const value = (v: number) => (Number.isFinite(v) ? String(v) : 'NaN');
      if (url.pathname === '/api/v1/query') {
        const atMs = promTime(params.get('time'), Date.now());
        if (!Number.isFinite(atMs)) return bad(`invalid time ${params.get('time')}`);
        const result = drillSeries(query, atMs, changeAtMs).map((s) => ({
          metric: s.metric,
          value: [atMs / 1000, value(s.value)],
        }));
        return send(200, { status: 'success', data: { resultType: 'vector', result } });
      }
      const startMs = promTime(params.get('start'), NaN);
      const endMs = promTime(params.get('end'), NaN);
      const stepMs = promDuration(params.get('step') ?? '');
      if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) return bad('invalid start or end');
      if (!(stepMs > 0)) return bad('zero or negative query resolution step widths are not accepted');
      if (endMs < startMs) return bad('end timestamp must not be before start time');
      if ((endMs - startMs) / stepMs > 11_000)
        return bad('exceeded maximum resolution of 11,000 points per timeseries');
      const byKey = new Map<string, { metric: Record<string, string>; values: [number, string][] }>();
      for (let t = startMs; t <= endMs; t += stepMs) {
        for (const s of drillSeries(query, t, changeAtMs)) {
          const key = JSON.stringify(s.metric);
          if (!byKey.has(key)) byKey.set(key, { metric: s.metric, values: [] });
          byKey.get(key)!.values.push([t / 1000, value(s.value)]);
        }
      }
      return send(200, { status: 'success', data: { resultType: 'matrix', result: [...byKey.values()] } });
    });
  });
}

const databaseFor = (drillId: string) => `drill_${drillId.toLowerCase().replace(/[^a-z0-9]/g, '_')}`;

export function createDrillActivities({ storeDb, drillTelemetry, store }: Deps) {
  return {
    async prepareDrill(input: { drillId: string; setup: DrillSetup }): Promise<PreparedDrill> {
      const service = `drill-${input.drillId}`;
      const environment = 'drill';
      const { setup } = input;
      if (setup.kind === 'telemetry') {
        const database = databaseFor(input.drillId);
        await storeDb.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await storeDb.query(`CREATE DATABASE ${database}`);
        // Day buckets in UTC whatever the server's TimeZone: the same incident on every server.
        await storeDb.query(`ALTER DATABASE ${database} SET timezone TO 'UTC'`);
        const pool = drillTelemetry.get(database);
        await migrate(pool, 'telemetry');
        // The scenario's own moment, not the wall clock: the same incident whenever the drill runs.
        const endsAt = setup.endsAt ? new Date(setup.endsAt) : new Date();
        const rows = await generateTelemetry(pool, { scenario: setup.scenario, rows: setup.rows, now: endsAt });
        return {
          service,
          environment,
          context: { telemetryDatabase: database },
          detail: `${rows.events} inference events and ${rows.tools} tool calls of scenario ${setup.scenario} ending ${endsAt.toISOString()} in ${database}`,
        };
      }
      if (setup.kind === 'change') {
        // A retried setup keeps the endpoint it started, and so the moment its errors rose.
        let endpoint = endpoints.get(input.drillId);
        if (!endpoint) {
          const changeAt = new Date(Date.now() - 10 * 60_000).toISOString();
          const server = drillPrometheus(Date.parse(changeAt));
          endpoint = { server, url: await listen(server), changeAt };
          endpoints.set(input.drillId, endpoint);
          registerDrillEndpoint(endpoint.url);
        }
        const at = endpoint.changeAt!;
        await store.addChange({
          service,
          environment,
          kind: setup.change,
          description: `drill: ${setup.description}`,
          actor: 'drill',
          at,
        });
        const chat = DRILL_ROUTES[0];
        return {
          service,
          environment,
          context: { prometheusUrl: endpoint.url },
          detail: `${setup.change} change for ${service} at ${at}; Prometheus at ${endpoint.url} answers 5xx on ${chat.route} at ${chat.ratioAfterChange * 100}% since, other routes 0%`,
        };
      }
      let endpoint = endpoints.get(input.drillId);
      if (!endpoint) {
        const server = failingProvider(setup.status);
        endpoint = { server, url: await listen(server) };
        endpoints.set(input.drillId, endpoint);
        registerDrillEndpoint(endpoint.url);
      }
      const url = endpoint.url;
      return {
        service,
        environment,
        context: { providerBaseUrl: url },
        detail: `the Messages API at ${url} answers ${setup.status} ${PROVIDER_ERRORS[setup.status].type}`,
      };
    },

    async finishDrill(input: { drillId: string; setup: DrillSetup }): Promise<void> {
      if (input.setup.kind === 'telemetry') {
        const database = databaseFor(input.drillId);
        await drillTelemetry.release(database);
        await storeDb.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      }
      const endpoint = endpoints.get(input.drillId);
      if (endpoint) {
        endpoints.delete(input.drillId);
        unregisterDrillEndpoint(endpoint.url);
        endpoint.server.closeAllConnections();
        await new Promise((r) => endpoint.server.close(r));
      }
      // The drill's change event stays: it is the record of what the drill injected, under a drill-only service.
    },

    async recordDrill(input: { workflowId: string; runId: string; report: DrillReport }): Promise<void> {
      const { report } = input;
      await store.recordDrill({ ...input, runbook: report.runbook, scenario: report.scenario, passed: report.passed });
    },

    async incidentSteps(input: { workflowId: string }): Promise<(StepRecord & { durationMs: number | null })[]> {
      return store.steps(input.workflowId);
    },
  };
}
