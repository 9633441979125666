// Label values from alerts go into PromQL and LogQL as quoted strings: a hostile service name read
// by a real Prometheus matches no series (no data, a human asked), instead of rewriting the query
// into a 0 % ratio that would close the incident as resolved.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'pg';
import { createActivities } from '../../activities';
import { fill } from '../../activities/http';
import { parseConfig } from '../../config/load';
import { requireEnv, testDeps } from '../support/harness';
import { SERVICE, World } from '../support/scenario';
import { needs, PROMETHEUS } from '../support/system';

const HOSTILE = 'x"}[20s])) or vector(0) or sum(rate(http_requests_total{a="';

test('fill quotes each value once: no closing quote, no second substitution', () => {
  assert.equal(
    fill('up{service="{service}",environment="{environment}"}', {
      service: 'a"b\\c{environment}',
      environment: 'prod\n',
    }),
    'up{service="a\\"b\\\\c{environment}",environment="prod\\n"}',
  );
});

describe('a hostile service label against a real Prometheus', { skip: needs(PROMETHEUS) }, () => {
  const world = new World();
  let pool: Pool;

  before(async () => {
    await world.start();
    pool = new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 1 });
  });

  after(async () => {
    await pool?.end();
    await world.stop();
  });

  test('reads no series, where unescaped it read 0 % errors', async () => {
    await world.errors(0.1);
    const acts = createActivities(testDeps(parseConfig(world.config()), pool, {}));
    const real = await acts.errorRatioOver({ service: SERVICE, environment: 'prod', windowMs: 30_000 });
    assert.ok(real.available && (real.data.ratio ?? 0) > 0, JSON.stringify(real));
    const hostile = await acts.errorRatioOver({ service: HOSTILE, environment: 'prod', windowMs: 30_000 });
    assert.deepEqual(hostile.available && hostile.data, { ratio: null, requests: 0 }, JSON.stringify(hostile));
    const now = await acts.errorRatio({ service: HOSTILE, environment: 'prod' });
    assert.deepEqual(now.available && now.data, null, JSON.stringify(now));
  });
});
