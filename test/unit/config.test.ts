import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../config/load';
import { parseParamArgs, resolveParams } from '../../config/params';
import { toMs } from '../../workflows/toolkit/duration';

test('config errors name the bad field', () => {
  assert.throws(
    () => parseConfig({ actions: { 'rollback-deploy': { run: 'pnpm deploy:rollback' } } }),
    (err: Error) => err instanceof ConfigError && /actions\.rollback-deploy\.run/.test(err.message),
  );
  assert.throws(() => parseConfig({ routes: [{ match: [], runbook: 'api-error-budget' }] }), /routes\.0\.match/);
  assert.throws(() => parseConfig({ routes: [{ match: ['a="b"'], runbook: 'nope' }] }), /routes\.0\.runbook/);
  assert.throws(
    () => parseConfig({ responders: [{ name: 'a', tokenSha256: 'short', roles: ['oncall'] }] }),
    /responders\.0\.tokenSha256/,
  );
  assert.throws(
    () => parseConfig({ actions: { x: { run: ['a'], flag: { feature: 'f', enabled: true } } } }),
    /exactly one of run/,
  );
});

test('a config file that is missing or not JSON says so', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  assert.throws(() => loadConfig(path.join(dir, 'none.json'), {}), /cannot read config file/);
  writeFileSync(path.join(dir, 'bad.json'), '{ routes: ');
  assert.throws(() => loadConfig(path.join(dir, 'bad.json'), {}), /not valid JSON/);
  rmSync(dir, { recursive: true, force: true });
});

test('the environment lays addresses over the file', () => {
  const config = parseConfig({}, 'c', {
    PROMETHEUS_URL: 'http://p:9090',
    LOKI_URL: 'http://l:3100',
    ANTHROPIC_STATUS_URL: 'http://s/api/v2/status.json',
  });
  assert.equal(config.dataSources.prometheus.url, 'http://p:9090');
  assert.equal(config.dataSources.loki.url, 'http://l:3100');
  assert.deepEqual(config.dataSources.statusPages, [{ name: 'anthropic', url: 'http://s/api/v2/status.json' }]);
});

test('runbook parameters default to the document and validate overrides', () => {
  const config = parseConfig({ runbooks: { 'api-error-budget': { params: { validationWindow: '20m' } } } });
  const params = resolveParams('api-error-budget', config, parseParamArgs(['validationThreshold=0.001']));
  assert.equal(params.validationWindow, '20m');
  assert.equal(params.validationThreshold, 0.001);
  assert.equal(params.alertThreshold, 0.01);
  assert.equal(toMs(resolveParams('api-error-budget', parseConfig({})).validationWindow as string), 15 * 60_000);
  assert.throws(
    () => resolveParams('api-error-budget', config, { validationWindow: '15 minutes' }),
    /validationWindow/,
  );
  assert.throws(() => resolveParams('api-error-budget', config, { nosuch: 1 }), /nosuch|Unrecognized/);
  assert.throws(() => parseParamArgs(['novalue']), /k=v/);
});
