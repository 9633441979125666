import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig, parseConfig } from '../../config/load';
import { parseMatcher, Router } from '../../config/routing';

test('matchers follow Alertmanager: anchored RE2, (?i), absent label is empty', () => {
  const re = parseMatcher('alertname=~"ApiErrorRate|HighErrorRate|.*5xx.*"');
  assert.equal(re.test({ alertname: 'ApiErrorRate' }), true);
  assert.equal(re.test({ alertname: 'Api5xxBurn' }), true);
  assert.equal(re.test({ alertname: 'ApiErrorRateX' }), false, 'regex is anchored to the whole value');
  assert.equal(parseMatcher('alertname=~"(?i)api.*"').test({ alertname: 'APIErrors' }), true);
  assert.equal(parseMatcher('team=""').test({}), true, 'absent label matches the empty string');
  assert.equal(parseMatcher('team!="core"').test({ team: 'core' }), false);
  assert.equal(parseMatcher('severity!~"info|debug"').test({ severity: 'critical' }), true);
  assert.equal(parseMatcher('env=prod').test({ env: 'prod' }), true, 'unquoted values are allowed');
});

test('RE2 rejects what JavaScript would accept: backreferences are a config error', () => {
  assert.throws(() => parseMatcher('alertname=~"(a)\\\\1"'), /bad regex/);
  assert.throws(() => parseMatcher('alertname=="x"'), /bad matcher/);
});

test('routing: alert label or annotation first, then the first matching route, else ignored with the reason', () => {
  const config = parseConfig({
    routes: [
      { match: ['alertname=~".*5xx.*"'], runbook: 'api-error-budget' },
      { match: ['alertname=~".*"', 'team="cost"'], runbook: 'cost-spike' },
      { match: ['alertname=~".*"'], runbook: 'service-down' },
    ],
  });
  const router = Router.fromConfig(config);
  assert.equal(router.route({ alertname: 'Api5xx' }).runbook, 'api-error-budget');
  assert.equal(router.route({ alertname: 'Spend', team: 'cost' }).runbook, 'cost-spike');
  assert.equal(router.route({ alertname: 'Other' }).runbook, 'service-down');
  assert.deepEqual(router.route({ alertname: 'Api5xx', runbook: 'cost-spike' }).via, 'label');
  assert.equal(router.route({ alertname: 'X' }, { runbook: 'llm-provider-incident' }).runbook, 'llm-provider-incident');
  const unknown = router.route({ alertname: 'X', runbook: 'no-such-runbook' });
  assert.equal(unknown.runbook, undefined);
  assert.match(unknown.reason!, /unknown runbook "no-such-runbook"/);
  const none = Router.fromConfig(parseConfig({ routes: [] })).route({ alertname: 'X' });
  assert.equal(none.reason, 'no route matches the alert');
});

test('default config routes error-rate alerts to api-error-budget', () => {
  const router = Router.fromConfig(loadConfig(undefined, {}));
  assert.equal(router.route({ alertname: 'ApiErrorRate' }).runbook, 'api-error-budget');
  assert.equal(router.route({ alertname: 'HighErrorRate' }).runbook, 'api-error-budget');
  assert.equal(router.route({ alertname: 'Checkout5xx' }).runbook, 'api-error-budget');
  assert.equal(router.route({ alertname: 'DiskFull' }).runbook, undefined);
});
