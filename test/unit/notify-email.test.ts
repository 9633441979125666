// Mail to a notification target with an email (the security team), through a local SMTP relay.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../config/load';
import { createNotifyActivities } from '../../activities/notify';
import type { Deps } from '../../activities';
import { SmtpStandIn } from '../support/smtp-standin';

const smtp = new SmtpStandIn();
before(() => smtp.listen());
after(() => smtp.close());

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
  const mail = smtp.mails.at(-1)!;
  assert.equal(mail.from, 'runbooks@example.org');
  assert.deepEqual(mail.to, ['security@terragonlabs.com']);
  assert.equal(mail.auth, 'runbooks:secret');
  assert.match(mail.data, /^Subject: security-incidents on api \(prod\) still open after 5m second line/m);
  assert.match(
    mail.data,
    /\r\n\r\n:rotating_light: security-incidents on api \(prod\) still open after 5m\r\nsecond line\r\n\.leading dot$/,
  );
});

test('no relay configured: skipped, saying so; a relay that is down: failed, saying where', async () => {
  const none = await notifier({}).notify({ target: 'security', text: 'x' });
  assert.deepEqual(none.skipped, ['email to security@terragonlabs.com: no mail relay (SMTP_URL)']);
  const down = await notifier({ SMTP_URL: 'smtp://127.0.0.1:1' }).notify({ target: 'security', text: 'x' });
  assert.equal(down.delivered.length, 0);
  assert.match(down.failed[0], /ECONNREFUSED/);
});
