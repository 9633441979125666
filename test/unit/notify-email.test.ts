// Mail to a notification target with an email (the security team), through a local SMTP relay:
// STARTTLS when the relay offers it, and a password never in clear to a relay off this machine.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../config/load';
import { createNotifyActivities } from '../../activities/notify';
import type { Deps } from '../../activities';
import { cleartextAuthAllowed } from '../../activities/credentials';
import { sendMail } from '../../activities/smtp';
import { nonLoopbackAddress, selfSignedCertificate, SmtpStandIn } from '../support/smtp-standin';

const certificate = selfSignedCertificate();
const smtp = new SmtpStandIn();
const starttls = new SmtpStandIn({ certificate });
const smtps = new SmtpStandIn({ certificate, implicitTls: true });
const remoteHost = nonLoopbackAddress();
const remote = remoteHost ? new SmtpStandIn({ host: remoteHost }) : undefined;
const relays = [smtp, starttls, smtps, remote];
before(() => Promise.all(relays.map((r) => r?.listen())));
after(() => Promise.all(relays.map((r) => r?.close())));

const mail = { from: 'runbooks@example.org', to: 'security@terragonlabs.com', subject: 'test', text: 'hello' };

function notifier(env: NodeJS.ProcessEnv) {
  const config = parseConfig({ notifications: { security: { email: 'security@terragonlabs.com' } } }, 'test', {});
  return createNotifyActivities({ config, env } as Pick<Deps, 'config' | 'env'> as Deps);
}

test('an email target gets the mail through SMTP, authenticated, with a subject and the text', async () => {
  const sent = await notifier({ SMTP_URL: smtp.url, SMTP_FROM: 'runbooks@example.org' }).notify({
    target: 'security',
    text: ':rotating_light: security-incidents on api (prod) still open after 5m\nsecond line\n.leading dot',
  });
  assert.deepEqual(sent.failed, []);
  assert.match(sent.delivered[0], /^email security@terragonlabs.com \(250 2.0.0 queued as \d+\)$/);
  const received = smtp.mails.at(-1)!;
  assert.equal(received.from, 'runbooks@example.org');
  assert.deepEqual(received.to, ['security@terragonlabs.com']);
  // A relay on loopback may take the password in clear: it never leaves this machine.
  assert.equal(received.auth, 'runbooks:secret');
  const headers = received.data.split('\r\n\r\n')[0].replace(/\r\n[ \t]+/g, ' ');
  assert.match(headers, /^Subject: security-incidents on api \(prod\) still open after 5m second line/m);
  assert.match(
    received.data,
    /\r\n\r\n:rotating_light: security-incidents on api \(prod\) still open after 5m\r\nsecond line\r\n\.leading dot(\r\n)?$/,
  );
});

test('no relay configured: skipped, saying so; a relay that is down: failed, saying where', async () => {
  const none = await notifier({}).notify({ target: 'security', text: 'x' });
  assert.deepEqual(none.skipped, ['email to security@terragonlabs.com: no mail relay (SMTP_URL)']);
  const down = await notifier({ SMTP_URL: 'smtp://127.0.0.1:1' }).notify({ target: 'security', text: 'x' });
  assert.equal(down.delivered.length, 0);
  assert.match(down.failed[0], /ECONNREFUSED/);
});

test('a relay that offers STARTTLS gets AUTH and the mail under TLS; an untrusted certificate sends nothing', async () => {
  const reply = await sendMail(starttls.url, mail, 5000, { tls: { ca: certificate.cert } });
  assert.match(reply, /^250 2.0.0 queued as \d+/);
  assert.deepEqual(starttls.logins, [{ auth: 'runbooks:secret', tls: true }]);
  assert.equal(starttls.mails.at(-1)?.tls, true);
  // No silent fallback to plain text when the certificate does not verify.
  await assert.rejects(sendMail(starttls.url, mail, 5000), (err: Error) => {
    assert.match(err.message, /TLS handshake → self.signed certificate/);
    assert.doesNotMatch(err.message, /secret/);
    return true;
  });
  assert.equal(starttls.logins.length, 1);
  assert.equal(starttls.mails.length, 1);
});

test('smtps:// is TLS from the first byte', async () => {
  assert.match(await sendMail(smtps.url, mail, 5000, { tls: { ca: certificate.cert } }), /^250 /);
  assert.deepEqual(smtps.logins, [{ auth: 'runbooks:secret', tls: true }]);
  assert.equal(smtps.mails.at(-1)?.tls, true);
});

test(
  'credentials to a relay off this machine without TLS: refused before AUTH, nothing sent',
  { skip: !remote && 'no non-loopback address' },
  async () => {
    await assert.rejects(sendMail(remote!.url, mail, 5000), (err: Error) => {
      assert.match(err.message, /STARTTLS/);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
    assert.deepEqual(remote!.logins, [], 'no AUTH in clear');
    assert.deepEqual(remote!.mails, []);
  },
);

test('a password may go in clear only to loopback', () => {
  for (const host of ['localhost', '127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1', 'LOCALHOST'])
    assert.equal(cleartextAuthAllowed(host), true, host);
  for (const host of ['192.0.2.2', 'smtp.example.org', 'localhost.example.org', '128.0.0.1', '::2', ''])
    assert.equal(cleartextAuthAllowed(host), false, host);
});
