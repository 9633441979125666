import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteSeries } from '../../activities/prometheus';
import type { Observed } from '../../activities/http';
import {
  diagnose,
  judgeChanges,
  mitigationPlan,
  type Evidence,
  type JudgedChange,
} from '../../workflows/runbooks/api-error-budget.diagnose';

const O = { alertThreshold: 0.01 };
const calm: Evidence = {
  routes: { available: true, data: [{ route: '/v1/chat', ratio: 0.2 }] },
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
  changes: { available: true, data: [] },
};
const at = '2026-11-23T03:00:00.000Z';
const atMs = Date.parse(at);
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
/** A change that the 5xx ratio rose after. */
const rose = (c: Omit<JudgedChange, 'rose' | 'why'>): JudgedChange => ({ ...c, rose: true, why: 'rose after it' });
const judged = (changes: JudgedChange[]): Evidence['changes'] => ({ available: true, data: changes });

/** /v1/chat's 5xx ratio, one point a minute, `before` until the change and `after` from it on. */
function series(before: number, after: number, fromMin = -30, toMin = 10): Observed<RouteSeries[]> {
  const points: [number, number][] = [];
  for (let m = fromMin; m <= toMin; m++) points.push([atMs + m * 60_000, m < 0 ? before : after]);
  return { available: true, data: [{ route: '/v1/chat', points }] };
}
const deploy = { service: 'api', environment: 'prod', kind: 'deploy' as const, version: 'v42', at };
const judge = (s: Observed<RouteSeries[]>, alertStartMs = atMs + 5 * 60_000) =>
  judgeChanges([deploy], s, { alertStartMs, alertThreshold: 0.01, baselineMs: 15 * 60_000 })[0];

test('no error signal at all: insufficient data, the sources named, no mitigation offered', () => {
  const d = diagnose(
    {
      ...calm,
      routes: { available: false, reason: 'Prometheus not configured (PROMETHEUS_URL)' },
      logs: { available: false, reason: 'Loki not configured (LOKI_URL)' },
      changes: judged([rose(deploy)]),
      providers: [{ available: true, data: { name: 'p', url: 'x', indicator: 'minor', description: 'Degraded' } }],
    },
    O,
  );
  assert.equal(d.primary, 'insufficient_data');
  assert.deepEqual(d.causes, [], 'a deploy and a degraded status page alone are no diagnosis');
  assert.deepEqual(mitigationPlan(d, [rose(deploy)]), [], 'never a rollback without an error signal');
  assert.deepEqual(
    d.sources?.unread.map((u) => u.source),
    ['prometheus (5xx per route)', 'traces', 'logs'],
  );
  assert.ok(d.sources?.read.includes('change events'));
});

test('routes below the alert threshold and no error lines are no signal either', () => {
  const d = diagnose({ ...calm, routes: { available: true, data: [{ route: '/v1/chat', ratio: 0.001 }] } }, O);
  assert.equal(d.primary, 'insufficient_data');
});

test('errors with nothing that stands out: unknown, and no mitigation to offer', () => {
  const d = diagnose(calm, O);
  assert.equal(d.primary, 'unknown');
  assert.deepEqual(mitigationPlan(d, []), []);
});

test('a change counts only when the 5xx ratio rose after it', () => {
  const up = judge(series(0, 0.1));
  assert.equal(up.rose, true);
  assert.match(up.why, /\/v1\/chat rose from 0\.00% before to 10\.00% after deploy v42/);
  const already = judge(series(0.1, 0.1));
  assert.equal(already.rose, false, 'errors already high before the deploy');
  assert.match(already.why, /did not rise/);
  const blind = judge(series(0, 0.1, 1, 10));
  assert.equal(blind.rose, null, 'no data before the deploy: cannot tell');
  assert.match(blind.why, /cannot tell/);
  const down = judge({ available: false, reason: 'Prometheus not configured (PROMETHEUS_URL)' });
  assert.equal(down.rose, null);
  assert.match(down.why, /unavailable: Prometheus not configured/);
  const late = judge(series(0, 0.1), atMs - 60_000);
  assert.equal(late.rose, false, 'a deploy after the alert started is not a cause');
  assert.match(late.why, /after the alert started/);
});

test('a route that fails after the change and had no traffic before it leaves the change undecided', () => {
  const flat = series(0, 0);
  const added: Observed<RouteSeries[]> = flat.available
    ? {
        available: true,
        data: [
          ...flat.data,
          {
            route: '/v2/chat',
            points: [
              [atMs + 60_000, 0.5],
              [atMs + 120_000, 0.5],
            ],
          },
        ],
      }
    : flat;
  const j = judge(added);
  assert.equal(j.rose, null, 'no traffic before it is no evidence that the change did not cause it');
  assert.match(j.why, /\/v2\/chat .*had no traffic before it: cannot tell/);
});

test('a deploy the errors did not rise after is no deployment regression', () => {
  const changes = [judge(series(0.1, 0.1))];
  const d = diagnose({ ...calm, changes: judged(changes) }, O);
  assert.equal(d.primary, 'unknown');
  assert.deepEqual(mitigationPlan(d, changes), []);
});

test('a deploy the errors rose after, with code errors, is a deployment regression → rollback', () => {
  const changes = [judge(series(0, 0.1))];
  const d = diagnose(
    {
      ...calm,
      changes: judged(changes),
      logs: messages("TypeError: Cannot read properties of undefined (reading 'id')"),
    },
    O,
  );
  assert.equal(d.primary, 'deployment_regression');
  assert.deepEqual(mitigationPlan(d, changes), ['rollback-deploy']);
  assert.ok(d.causes[0].evidence.some((e) => e.includes('v42') && e.includes('rose')));
});

test('a secret change with auth errors is config drift → restore secret', () => {
  const changes = [rose({ service: 'api', environment: 'prod', kind: 'secret' as const, at })];
  const d = diagnose(
    { ...calm, changes: judged(changes), logs: messages('401 Unauthorized from exporter: invalid api key') },
    O,
  );
  assert.equal(d.primary, 'config_drift');
  assert.deepEqual(mitigationPlan(d, changes), ['restore-secret']);
});

test('a provider status page in major outage is a third-party outage → degraded mode', () => {
  const providers: Evidence['providers'] = [
    { available: true, data: { name: 'anthropic', url: 'x', indicator: 'major', description: 'Partial outage' } },
  ];
  const d = diagnose({ ...calm, providers, logs: messages('upstream provider returned 503') }, O);
  assert.equal(d.primary, 'third_party_outage');
  assert.deepEqual(mitigationPlan(d, []), ['degraded-mode']);
});

test('database errors: migration rollback when a migration shipped, else replica failover', () => {
  const migration = [rose({ service: 'api', environment: 'prod', kind: 'migration' as const, version: '0042', at })];
  const logs = messages('error: column "tenant_ref" does not exist', 'database query failed: deadlock detected');
  const withMigration = diagnose({ ...calm, changes: judged(migration), logs }, O);
  assert.equal(withMigration.primary, 'database_errors');
  assert.deepEqual(mitigationPlan(withMigration, migration), ['migration-rollback', 'replica-failover']);
  const saturated = diagnose(
    {
      ...calm,
      dependencies: [
        { name: 'postgres', reachable: true, latencyMs: 900, saturation: 0.97, detail: '97/100 connections' },
      ],
      logs: messages('too many connections for role "api"'),
    },
    O,
  );
  assert.equal(saturated.primary, 'database_errors');
  assert.deepEqual(mitigationPlan(saturated, []), ['replica-failover']);
});

test('429s and throttling are rate limiting → raise concurrency, then queue through the circuit breaker', () => {
  const d = diagnose(
    {
      ...calm,
      logs: messages('429 Too Many Requests: rate limit exceeded', 'concurrency limit reached, request throttled'),
    },
    O,
  );
  assert.equal(d.primary, 'rate_limiting');
  assert.deepEqual(mitigationPlan(d, []), ['raise-concurrency', 'circuit-breaker-queue']);
});

test('several causes are ranked by score and every one keeps its evidence', () => {
  const changes = [rose(deploy)];
  const providers: Evidence['providers'] = [
    { available: true, data: { name: 'p', url: 'x', indicator: 'minor', description: 'Degraded' } },
  ];
  const d = diagnose({ ...calm, changes: judged(changes), providers }, O);
  assert.deepEqual(
    d.causes.map((c) => c.cause),
    ['deployment_regression', 'third_party_outage'],
  );
  assert.ok(d.causes.every((c) => c.evidence.length > 0));
  assert.deepEqual(mitigationPlan(d, changes), ['rollback-deploy', 'degraded-mode']);
});
