// Certificate expiry read from a local TLS server presenting a short-lived self-signed certificate.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createCertificateActivities } from '../../activities/certificates';
import type { Deps } from '../../activities';
import { parseConfig } from '../../config/load';
import { meetsExpectation } from '../../catalogue/document';
import { shortLivedTlsServer, type ShortLivedTls } from '../support/tls';

let server: ShortLivedTls;

before(async () => {
  // Valid for 3 days: inside the document's 14-day threshold.
  server = await shortLivedTlsServer(3);
});

after(() => server.close());

const activities = (tlsEndpoints: string[]) =>
  createCertificateActivities({ config: parseConfig({ dataSources: { tlsEndpoints } }, 'test', {}) } as Deps);

test('a certificate expiring in 3 days: 2 full days left, below the 14-day expectation', async () => {
  const r = await activities([server.endpoint]).certificateExpiry();
  assert.ok(r.available, r.available ? '' : r.reason);
  assert.equal(r.data[0].subject, 'localhost');
  assert.equal(r.data[0].daysLeft, 2);
  assert.equal(meetsExpectation(String(r.data[0].daysLeft), '> 14'), false);
});

test('no endpoints configured, or one that does not answer: said so', async () => {
  const none = await activities([]).certificateExpiry();
  assert.equal(none.available, false);
  const dead = await activities(['127.0.0.1:1']).certificateExpiry();
  assert.equal(dead.available, false);
  assert.match(dead.available ? '' : dead.reason, /ECONNREFUSED/);
});
