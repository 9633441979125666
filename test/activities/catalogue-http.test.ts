// A catalogue document's `check http` reaches only the hosts the operator configured: those of the
// data sources and `catalogue.httpHosts`. Anything else, and a redirect to anything else, is
// unavailable, naming the host and how to allow it, with nothing fetched there.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Pool } from 'pg';
import { createCatalogueActivities } from '../../activities/catalogue';
import { parseConfig } from '../../config/load';
import type { ConfigInput } from '../../config/schema';
import { parseDocument } from '../../catalogue/document';
import { documentWith } from '../support/documents';
import { testDeps } from '../support/harness';

/** A local server that records each request and answers 200, or redirects where `?to=` says. */
function standIn() {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    res.writeHead(to ? 302 : 200, to ? { location: to } : {});
    res.end('ok');
  });
  return {
    requests,
    url: '',
    async listen() {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const allowed = standIn();
const prometheus = standIn();
const other = standIn();
const pool = new Pool();
const REST = '## Investigation Steps\n\n## Resolution Steps\n';

before(() => Promise.all([allowed.listen(), prometheus.listen(), other.listen()]));
after(async () => {
  await Promise.all([allowed.close(), prometheus.close(), other.close()]);
  await pool.end();
});

/** `check(url)`: runs `GET <url>` as the one check of the worker's own document, on this config. */
function checker(input: ConfigInput) {
  let url = '';
  const documents = () =>
    parseDocument(
      documentWith(`## Immediate Actions\n\n1. Probe\n   \`\`\`check http\n   GET ${url}\n   \`\`\`\n\n${REST}`),
    );
  const acts = createCatalogueActivities({ ...testDeps(parseConfig(input, 'test config', {}), pool, {}), documents });
  return (target: string) => {
    url = target;
    return acts.documentCheck({ runbook: 'service-down', step: 'probe', vars: {} });
  };
}

test('check http: configured hosts answer; any other host, or a redirect to one, is refused unfetched', async () => {
  const check = checker({
    catalogue: { httpHosts: [new URL(allowed.url).host] },
    dataSources: { prometheus: { url: prometheus.url } },
  });
  const ok = await check(`${allowed.url}/healthz`);
  assert.deepEqual(ok.available && ok.data.output, '200');
  const prom = await check(`${prometheus.url}/-/healthy`);
  assert.deepEqual(prom.available && prom.data.output, '200', 'a data source host is configured');

  const refused = await check(`${other.url}/healthz`);
  assert.equal(refused.available, false);
  assert.match(
    refused.available ? '' : refused.reason,
    new RegExp(`^not configured: ${new URL(other.url).host} is not an allowed host.*catalogue\\.httpHosts`),
  );
  // A redirect from an allowed host to another host is not followed.
  const redirected = await check(`${allowed.url}/moved?to=${encodeURIComponent(`${other.url}/healthz`)}`);
  assert.equal(redirected.available, false);
  assert.match(redirected.available ? '' : redirected.reason, new RegExp(`redirected to ${new URL(other.url).host}`));
  assert.deepEqual(other.requests, [], 'nothing reached the host nobody configured');
  // Within the allowed hosts a redirect is followed.
  const within = await check(`${allowed.url}/moved?to=${encodeURIComponent(`${prometheus.url}/ok`)}`);
  assert.deepEqual(within.available && within.data.output, '200');
  assert.deepEqual(prometheus.requests, ['/-/healthy', '/ok']);
});

test("only the worker's document runs: a step it no longer has, or a check it does not have, runs nothing", async () => {
  const otherHost = new URL(other.url).host;
  const config = parseConfig({ catalogue: { httpHosts: [otherHost] } }, 'test config', {});
  const documents = () => parseDocument(documentWith(`## Immediate Actions\n\n1. Look around\n\n${REST}`));
  const acts = createCatalogueActivities({ ...testDeps(config, pool, {}), documents });
  const gone = await acts.documentCheck({ runbook: 'service-down', step: 'probe', vars: {} });
  assert.equal(gone.available, false);
  assert.equal(gone.missing, true);
  assert.match(gone.available ? '' : gone.reason, /no longer has the check "probe".*nothing was run/);
  assert.equal((await acts.documentCheck({ runbook: 'service-down', step: 'look-around', vars: {} })).missing, true);
  // An incident started before checks were looked up by step sends the check: run only if the worker has it.
  const sent = await acts.catalogueCheck({ kind: 'http', body: `GET ${other.url}/sent`, vars: {} });
  assert.equal(sent.available, false);
  assert.match(sent.available ? '' : sent.reason, /not in the worker's documents/);
  assert.deepEqual(other.requests, []);
});
