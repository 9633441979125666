// A catalogue document's Escalation section with its real durations, on the time-skipping test
// server: security-incidents left open mails the security team after 5 minutes (through a local
// SMTP relay), tells on-call after 15 and management after an hour.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { parseConfig } from '../../config/load';
import { ensureSearchAttributes } from '../../client/search-attributes';
import { testServerExecutable } from '../../dev/temporal-binaries';
import { stateQuery } from '../../workflows/definitions';
import { eventually, requireEnv, startTestServerWorker } from '../support/harness';
import { SmtpStandIn } from '../support/smtp-standin';
import { SlackStandIn } from '../support/standins';

describe('catalogue escalation timers on the time-skipping server', () => {
  const smtp = new SmtpStandIn();
  const slack = new SlackStandIn();
  let pool: Pool;
  let env: TestWorkflowEnvironment;

  before(async () => {
    await Promise.all([smtp.listen(), slack.listen()]);
    pool = new Pool({ connectionString: requireEnv('DATABASE_URL') });
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: await testServerExecutable() } });
    await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
  });

  after(async () => {
    await env?.teardown();
    await pool?.end();
    await Promise.all([smtp.close(), slack.close()]);
  });

  test('security-incidents: 5m security by mail, 15m on-call, 1h management', async () => {
    const config = parseConfig(
      {
        notifications: {
          security: { email: 'security@terragonlabs.com' },
          oncall: { slackChannel: '#oncall' },
          management: { slackChannel: '#incident-management' },
        },
        escalation: ['oncall'],
        // Manual steps wait longer than the hour, so only the document's rules speak.
        runbooks: { 'security-incidents': { params: { stepDeadline: '1d' } } },
      },
      'test config',
      {},
    );
    const workerEnv = {
      PATH: process.env.PATH,
      SMTP_URL: smtp.url,
      SLACK_BOT_TOKEN: slack.token,
      SLACK_API_URL: `${slack.url}/api`,
    };
    const { incidents, stop } = await startTestServerWorker(env, config, pool, workerEnv);
    try {
      const started = await incidents.start({
        runbook: 'security-incidents',
        service: 'api',
        environment: 'prod',
        source: 'manual',
        startedBy: 'test',
      });
      const handle = env.client.workflow.getHandle(started.workflowId);
      await eventually('the first manual step', async () =>
        (await handle.query(stateQuery)).pendingApprovals.length ? true : undefined,
      );
      await env.sleep('4m');
      assert.equal(smtp.mails.length, 0, 'nothing before 5 minutes');
      await env.sleep('2m');
      await eventually('the security mail', async () => (smtp.mails.length === 1 ? true : undefined));
      assert.deepEqual(smtp.mails[0].to, ['security@terragonlabs.com']);
      assert.match(smtp.mails[0].data, /Security Incidents? on api \(prod\) still open after 5m/i);
      await env.sleep('10m');
      await eventually('on-call told', async () =>
        slack.messages.some((m) => m.channel === '#oncall' && /still open after 15m/.test(m.text)) ? true : undefined,
      );
      assert.ok(!slack.messages.some((m) => m.channel === '#incident-management'));
      await env.sleep('45m');
      await eventually('management told', async () =>
        slack.messages.some((m) => m.channel === '#incident-management' && /still open after 1h/.test(m.text))
          ? true
          : undefined,
      );
      assert.equal(smtp.mails.length, 1, 'each rule fires once');
      await handle.cancel();
    } finally {
      await stop();
    }
  });
});
