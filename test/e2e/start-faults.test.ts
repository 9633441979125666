// `npm start` runs the whole stack; when a part it started dies (here its embedded Postgres, killed
// with SIGKILL), it says which and stops the rest instead of leaving a worker and gateway running
// against a dead server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { freePort } from '../../dev/postgres';
import { PROJECT_ROOT } from '../../dev/temporal-binaries';
import { eventually } from '../support/harness';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-start-'));
// As root, embedded Postgres runs as its own `postgres` user, which must reach the data folder.
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));

test('npm start names the part that died and stops the rest', { timeout: 240_000 }, async () => {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RUNBOOKS_DATA_DIR: dir,
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    GATEWAY_PORT: String(await freePort()),
    ...(process.env.TEMPORAL_CLI_PATH ? { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH } : {}),
  };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'dev/start.ts')], {
    env,
    cwd: PROJECT_ROOT,
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    await eventually(
      'the stack to start',
      async () => (output.includes('Ctrl-C stops everything') && output.includes('worker polling') ? true : undefined),
      180_000,
    );
    const pid = Number(readFileSync(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 45_000))]);
    assert.equal(code, 1, output.slice(-2000));
    assert.match(output, /the embedded Postgres stopped answering; stopping the rest/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
