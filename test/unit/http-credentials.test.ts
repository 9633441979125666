// A data source's URL may carry credentials (https://user:token@host): they travel as a header,
// and no error, finding or query shown to responders carries them.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createDependencyActivities } from '../../activities/dependencies';
import { fetchJson } from '../../activities/http';
import { parseConfig } from '../../config/load';
import type { Deps } from '../../activities';
import { secret } from '../support/secrets';

const SECRET = secret('data source URL password');
let base = '';
const server = http.createServer((req, res) => {
  const ok = req.headers.authorization === `Basic ${Buffer.from(`bot:${SECRET}`).toString('base64')}`;
  res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
  res.end(JSON.stringify(ok ? { status: { indicator: 'none', description: 'ok' } } : { error: 'no' }));
});

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise((r) => server.close(r)));

test("a URL's user and password go as Basic authorization", async () => {
  const body = await fetchJson<{ status: { indicator: string } }>(`http://bot:${SECRET}@${base}/api/v2/status.json`);
  assert.equal(body.status.indicator, 'none');
});

test('an unreachable source with credentials: the error does not carry them', async () => {
  await assert.rejects(fetchJson(`http://bot:${SECRET}@127.0.0.1:1/x`), (err: Error) => {
    assert.ok(!err.message.includes(SECRET), err.message);
    return true;
  });
});

test("a status page's finding and query name the page without its credentials", async () => {
  const config = parseConfig({
    dataSources: {
      statusPages: [
        { name: 'vendor', url: `http://bot:${SECRET}@${base}/api/v2/status.json` },
        { name: 'down', url: `http://bot:${SECRET}@127.0.0.1:1/api/v2/status.json` },
      ],
      otelEndpoints: [`http://bot:${SECRET}@127.0.0.1:1/v1/traces`],
    },
  });
  const acts = createDependencyActivities({ config, env: {} } as unknown as Deps);
  const pages = await acts.providerStatus();
  assert.equal(pages[0].available && pages[0].data.indicator, 'none');
  const otel = await acts.checkOtelEndpoints();
  const shown = JSON.stringify({ pages, otel });
  assert.ok(!shown.includes(SECRET), shown);
});
