// A drill's synthetic incident, set up before its runbook runs and taken down after: generated
// telemetry in a scratch database (drill_*) on the telemetry server, a change event for a
// drill-only service, or a local endpoint failing the way the provider does.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** Failing providers by drill id, in the worker that started them. */
const providers = new Map<string, http.Server>();

function failingProvider(status: 429 | 500 | 529): Promise<http.Server> {
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
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const databaseFor = (drillId: string) => `drill_${drillId.toLowerCase().replace(/[^a-z0-9]/g, '_')}`;

export function createDrillActivities({ telemetry, drillTelemetry, store }: Deps) {
  return {
    async prepareDrill(input: { drillId: string; setup: DrillSetup }): Promise<PreparedDrill> {
      const service = `drill-${input.drillId}`;
      const environment = 'drill';
      const { setup } = input;
      if (setup.kind === 'telemetry') {
        const database = databaseFor(input.drillId);
        await telemetry.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await telemetry.query(`CREATE DATABASE ${database}`);
        // Day buckets in UTC whatever the server's TimeZone: the same incident on every server.
        await telemetry.query(`ALTER DATABASE ${database} SET timezone TO 'UTC'`);
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
        const at = new Date(Date.now() - 10 * 60_000).toISOString();
        await store.addChange({
          service,
          environment,
          kind: setup.change,
          description: `drill: ${setup.description}`,
          actor: 'drill',
          at,
        });
        return { service, environment, context: {}, detail: `${setup.change} change for ${service} at ${at}` };
      }
      let server = providers.get(input.drillId);
      if (!server) {
        server = await failingProvider(setup.status);
        providers.set(input.drillId, server);
      }
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
        await telemetry.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      }
      const server = providers.get(input.drillId);
      if (server) {
        providers.delete(input.drillId);
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
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
