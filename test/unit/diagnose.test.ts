import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnose, mitigationPlan, type Evidence } from '../../workflows/runbooks/api-error-budget.diagnose';

const calm: Evidence = {
  traces: { available: false, reason: 'not configured' },
  logs: { available: true, data: { lines: 0, byRoute: {}, requestIds: [], tenants: [], flags: [], topMessages: [] } },
  dependencies: [
    { name: 'postgres', reachable: true, latencyMs: 2, saturation: 0.1, detail: 'ok' },
    { name: 'redis', reachable: true, latencyMs: 1, saturation: 0.01, detail: 'ok' },
  ],
  providers: [
    {
      available: true,
      data: { name: 'anthropic', url: 'x', indicator: 'none', description: 'All Systems Operational' },
    },
  ],
  changes: [],
};
const at = '2026-11-23T03:00:00.000Z';
const messages = (...m: string[]): Evidence['logs'] => ({
  available: true,
  data: {
    lines: m.length,
    byRoute: {},
    requestIds: [],
    tenants: [],
    flags: [],
    topMessages: m.map((message) => ({ message, count: 5 })),
  },
});

test('nothing stands out: unknown, and no mitigation to offer', () => {
  const d = diagnose(calm);
  assert.equal(d.primary, 'unknown');
  assert.deepEqual(mitigationPlan(d, []), []);
});

test('a deploy in the past hour with code errors is a deployment regression → rollback', () => {
  const changes = [{ service: 'api', environment: 'prod', kind: 'deploy' as const, version: 'v42', at }];
  const d = diagnose({
    ...calm,
    changes,
    logs: messages("TypeError: Cannot read properties of undefined (reading 'id')"),
  });
  assert.equal(d.primary, 'deployment_regression');
  assert.deepEqual(mitigationPlan(d, changes), ['rollback-deploy']);
  assert.ok(d.causes[0].evidence.some((e) => e.includes('v42')));
});

test('a secret change with auth errors is config drift → restore secret', () => {
  const changes = [{ service: 'api', environment: 'prod', kind: 'secret' as const, at }];
  const d = diagnose({ ...calm, changes, logs: messages('401 Unauthorized from exporter: invalid api key') });
  assert.equal(d.primary, 'config_drift');
  assert.deepEqual(mitigationPlan(d, changes), ['restore-secret']);
});

test('a provider status page in major outage is a third-party outage → degraded mode', () => {
  const providers: Evidence['providers'] = [
    { available: true, data: { name: 'anthropic', url: 'x', indicator: 'major', description: 'Partial outage' } },
  ];
  const d = diagnose({ ...calm, providers, logs: messages('upstream provider returned 503') });
  assert.equal(d.primary, 'third_party_outage');
  assert.deepEqual(mitigationPlan(d, []), ['degraded-mode']);
});

test('database errors: migration rollback when a migration shipped, else replica failover', () => {
  const migration = [{ service: 'api', environment: 'prod', kind: 'migration' as const, version: '0042', at }];
  const logs = messages('error: column "tenant_ref" does not exist', 'database query failed: deadlock detected');
  const withMigration = diagnose({ ...calm, changes: migration, logs });
  assert.equal(withMigration.primary, 'database_errors');
  assert.deepEqual(mitigationPlan(withMigration, migration), ['migration-rollback', 'replica-failover']);
  const saturated = diagnose({
    ...calm,
    dependencies: [
      { name: 'postgres', reachable: true, latencyMs: 900, saturation: 0.97, detail: '97/100 connections' },
    ],
    logs: messages('too many connections for role "api"'),
  });
  assert.equal(saturated.primary, 'database_errors');
  assert.deepEqual(mitigationPlan(saturated, []), ['replica-failover']);
});

test('429s and throttling are rate limiting → raise concurrency, then queue through the circuit breaker', () => {
  const d = diagnose({
    ...calm,
    logs: messages('429 Too Many Requests: rate limit exceeded', 'concurrency limit reached, request throttled'),
  });
  assert.equal(d.primary, 'rate_limiting');
  assert.deepEqual(mitigationPlan(d, []), ['raise-concurrency', 'circuit-breaker-queue']);
});

test('several causes are ranked by score and every one keeps its evidence', () => {
  const changes = [{ service: 'api', environment: 'prod', kind: 'deploy' as const, at }];
  const providers: Evidence['providers'] = [
    { available: true, data: { name: 'p', url: 'x', indicator: 'minor', description: 'Degraded' } },
  ];
  const d = diagnose({ ...calm, changes, providers });
  assert.deepEqual(
    d.causes.map((c) => c.cause),
    ['deployment_regression', 'third_party_outage'],
  );
  assert.ok(d.causes.every((c) => c.evidence.length > 0));
  assert.deepEqual(mitigationPlan(d, changes), ['rollback-deploy', 'degraded-mode']);
});
