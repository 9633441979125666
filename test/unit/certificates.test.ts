// Certificate expiry read from a local TLS server presenting a short-lived self-signed certificate.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createCertificateActivities } from '../../activities/certificates';
import type { Deps } from '../../activities';
import { parseConfig } from '../../config/load';
import { meetsExpectation } from '../../catalogue/document';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-cert-'));
let server: tls.Server;
let endpoint = '';

before(async () => {
  // Valid for 3 days: inside the document's 14-day threshold.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3',
      '-subj',
      '/CN=localhost',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  server = tls.createServer(
    { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) },
    (s) => s.end(),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const activities = (tlsEndpoints: string[]) =>
  createCertificateActivities({ config: parseConfig({ dataSources: { tlsEndpoints } }, 'test', {}) } as Deps);

test('a certificate expiring in 3 days: 2 full days left, below the 14-day expectation', async () => {
  const r = await activities([endpoint]).certificateExpiry();
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
