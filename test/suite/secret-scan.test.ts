// The suite's secret scan (test/support/secret-scan.ts, run by test/run.ts after the last file) can
// fail: values planted in a workflow history, a table and a log are found there, as written and
// base64-encoded, and named by where they are, never printed. The planted values are not registered,
// so the suite's own scan passes over them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { eventually, requireEnv } from '../support/harness';
import {
  base64Forms,
  describeFinding,
  scanLog,
  scanPostgres,
  scanTemporal,
  SecretMatcher,
  type Finding,
} from '../support/secret-scan';
import { registeredSecrets, SECRET_MARKER, secret, SECRETS_FILE_ENV } from '../support/secrets';

const tag = randomBytes(4).toString('hex');
// One like the registry's (the marker screens for it), one unlike it (screened for itself).
const PLANTED_KEY = `sk-ant-api03-${SECRET_MARKER}-${randomBytes(12).toString('hex')}`;
const PLANTED_TOKEN = `plant-${randomBytes(12).toString('hex')}`;
const matcher = new SecretMatcher([
  { name: 'PLANTED_KEY', value: PLANTED_KEY, origin: 'the scan test' },
  { name: 'PLANTED_TOKEN', value: PLANTED_TOKEN },
]);
const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-secret-scan-'));

function safely(findings: Finding[]): string[] {
  const lines = findings.map(describeFinding);
  for (const line of lines) assert.ok(!line.includes(PLANTED_KEY) && !line.includes(PLANTED_TOKEN), 'a value printed');
  return lines;
}

after(() => rmSync(dir, { recursive: true, force: true }));

test('a value is found as written and base64-encoded at any offset, and a place is named without it', () => {
  for (const around of ['', 'a', 'ab', 'abc']) {
    const basic = Buffer.from(`${around}alice:${PLANTED_TOKEN}\n`).toString('base64');
    assert.deepEqual(matcher.find(`Authorization: Basic ${basic}`), [{ secret: 'PLANTED_TOKEN', encoding: 'base64' }]);
    assert.ok(
      base64Forms(PLANTED_KEY).some((f) => Buffer.from(`${around}${PLANTED_KEY}`).toString('base64url').includes(f)),
    );
  }
  assert.deepEqual(matcher.find(`{"key":"${PLANTED_KEY}"}`), [
    { secret: 'PLANTED_KEY (made in the scan test)', encoding: 'plain' },
  ]);
  assert.deepEqual(matcher.find(`sk-ant-api03-${SECRET_MARKER}-0000 a marker alone is no value`), []);
  assert.equal(matcher.redact(`wf-${PLANTED_TOKEN}`), 'wf-<PLANTED_TOKEN>');
});

test('secret() records what it makes in the run file, and the scan reads it back', () => {
  const file = path.join(dir, 'secrets.jsonl');
  const before = process.env[SECRETS_FILE_ENV];
  process.env[SECRETS_FILE_ENV] = file;
  let made: string;
  try {
    made = secret('SOME_TOKEN', 'xoxb-');
  } finally {
    if (before === undefined) delete process.env[SECRETS_FILE_ENV];
    else process.env[SECRETS_FILE_ENV] = before;
  }
  assert.match(made, new RegExp(`^xoxb-${SECRET_MARKER}-[0-9a-f]{24}$`));
  const recorded = registeredSecrets(file);
  assert.deepEqual(recorded[0], { name: 'SOME_TOKEN', value: made, origin: 'test/suite/secret-scan.test.ts' });
  assert.ok(readFileSync(file, 'utf8').includes(made));
});

test('planted in a workflow history: found at its event, in the input and in a signal, base64-encoded', async () => {
  const connection = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
  const client = new Client({ connection, namespace: 'default' });
  const workflowId = `secret-scan-plant-${tag}`;
  try {
    // No worker polls this queue: the history holds what the client sent, which is what matters.
    const handle = await client.workflow.start('secretScanPlant', {
      taskQueue: `secret-scan-plant-${tag}`,
      workflowId,
      args: [{ config: { anthropicKey: PLANTED_KEY } }],
    });
    await handle.signal('note', `Basic ${Buffer.from(`alice:${PLANTED_TOKEN}`).toString('base64')}`);
    await handle.terminate('planted for the secret scan test');
    const findings = await eventually('the planted workflow listed and scanned', async () => {
      const scan = await scanTemporal(requireEnv('TEMPORAL_ADDRESS'), matcher, {
        namespaces: ['default'],
        query: `WorkflowId = '${workflowId}'`,
      });
      return scan.findings.length >= 2 ? scan.findings : undefined;
    });
    const lines = safely(findings);
    assert.ok(
      lines.some((l) =>
        /^PLANTED_KEY \(made in the scan test\) in workflow history default\/secret-scan-plant-\w+ run \S+ event 1 \(WORKFLOW_EXECUTION_STARTED\)$/.test(
          l,
        ),
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) =>
        /^PLANTED_TOKEN, base64-encoded, in workflow history .* event \d+ \(WORKFLOW_EXECUTION_SIGNALED\)$/.test(l),
      ),
      lines.join('\n'),
    );
  } finally {
    await connection.close();
  }
});

test('planted in a table: found in its JSON and bytea columns, by row', async () => {
  const admin = new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 1 });
  const name = `secret_scan_plant_${tag}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(requireEnv('DATABASE_URL'));
  url.pathname = `/${name}`;
  const db = new Pool({ connectionString: url.toString(), max: 1 });
  try {
    await db.query(
      `CREATE SCHEMA app; CREATE TABLE app.plant (id serial PRIMARY KEY, note text, body jsonb, raw bytea)`,
    );
    await db.query(`INSERT INTO app.plant (note, body, raw) VALUES ('nothing here', '{}', NULL), ($1, $2, $3)`, [
      'a note',
      { headers: [{ 'x-api-key': PLANTED_KEY }] },
      Buffer.from(`\x00\x01token=${PLANTED_TOKEN}\x02`),
    ]);
    const scan = await scanPostgres([url.toString()], matcher);
    assert.deepEqual(safely(scan.findings).sort(), [
      `PLANTED_KEY (made in the scan test) in table ${name}.app.plant column body row (id) = (2)`,
      `PLANTED_TOKEN in table ${name}.app.plant column raw row (id) = (2)`,
    ]);
  } finally {
    await db.end();
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
});

test('planted in a log: found at its line', async () => {
  const file = path.join(dir, 'worker.log');
  writeFileSync(file, `starting\nusing ANTHROPIC_API_KEY=${PLANTED_KEY}\nok\n`);
  const scan = await scanLog(file, matcher, 'worker.log');
  assert.equal(scan.lines, 3);
  assert.deepEqual(safely(scan.findings), ['PLANTED_KEY (made in the scan test) in worker.log line 2']);
});
