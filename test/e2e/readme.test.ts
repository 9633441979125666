// The README's "Try it" as a newcomer runs it: its commands, word for word, against the gateway on
// the README's port, the shipped config and no data sources (the embedded defaults of `npm start`).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createGateway } from '../../client/gateway/server';
import type { ConfigInput } from '../../config/schema';
import { PROJECT_ROOT } from '../../dev/temporal-binaries';
import { stateQuery } from '../../workflows/definitions';
import { createHarness, eventually, requireEnv, type Harness } from '../support/harness';

const CONFIG = path.join(PROJECT_ROOT, 'config/runbooks.json');

/** The shell commands of the README's "Try it" block: a line starting with curl or ./bin/runbook opens one. */
function tryItCommands(): string[] {
  const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const block = /Try it:[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'the README has a "Try it" sh block');
  const commands: string[] = [];
  for (const line of block[1].split('\n')) {
    if (/^(curl|\.\/bin\/runbook) /.test(line)) commands.push(line);
    else if (line.trim()) commands[commands.length - 1] += `\n${line}`;
  }
  return commands;
}

describe("the README's Try it, as written", () => {
  let h: Harness;
  let gateway: http.Server;

  before(async () => {
    h = await createHarness('readme', JSON.parse(readFileSync(CONFIG, 'utf8')) as ConfigInput);
    await h.startWorker();
    gateway = createGateway({
      client: h.client,
      config: h.config,
      store: h.store,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
    });
    await new Promise<void>((resolve, reject) => {
      gateway.once('error', (err) => reject(new Error(`the README's gateway port 8088 is taken: ${err.message}`)));
      gateway.listen(8088, '127.0.0.1', resolve);
    });
  });

  after(async () => {
    gateway?.closeAllConnections();
    await new Promise((resolve) => gateway?.close(resolve));
    await h?.close();
  });

  function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: requireEnv('TEMPORAL_ADDRESS'),
      RUNBOOKS_CONFIG: CONFIG,
      RUNBOOKS_TASK_QUEUE: h.taskQueue,
    };
    return new Promise((resolve) => {
      execFile('bash', ['-c', command], { env, cwd: PROJECT_ROOT }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  test('every command succeeds and the incident says what it knows, then waits on the window', async () => {
    const commands = tryItCommands();
    assert.equal(commands.length, 7, commands.join('\n---\n'));
    let workflowId = '';
    const outputs: string[] = [];
    for (const written of commands) {
      const command = written.replaceAll('<key>', workflowId.split('/')[2] ?? '<key>');
      const r = await sh(command);
      assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
      outputs.push(r.stdout);
      if (command.includes('/alertmanager')) {
        const answer = JSON.parse(r.stdout) as { alerts: { workflowId: string; outcome: string }[] };
        workflowId = answer.alerts[0].workflowId;
        assert.equal(answer.alerts[0].outcome, 'started');
        // The steps before the first question: diagnosis done, manual mitigation asked.
        await eventually(
          'the runbook to ask for manual mitigation',
          async () => {
            const s = await h.client.workflow.getHandle(workflowId).query(stateQuery);
            return s.pendingApprovals.some((p) => p.step === 'manual-mitigation') ? s : undefined;
          },
          60_000,
        );
      }
    }
    const [, , list, status] = outputs;
    assert.match(list, new RegExp(workflowId.replaceAll('/', '\\/')));
    assert.match(status, /diagnosis: insufficient_data/);
    assert.match(status, /unavailable +dashboard-review: Prometheus: Prometheus not configured/);
    assert.match(status, /waiting +acknowledge: page NOT delivered/);
    assert.match(status, /came after the alert started/);
    assert.match(status, /skipped +rollback-deploy: not indicated by the diagnosis \(insufficient_data\)/);

    const last = outputs[outputs.length - 1];
    assert.match(last, /done +acknowledge: acknowledged by alice/);
    assert.match(last, /alice \(unauthenticated\) acknowledge at /, 'no responders configured: said so');
    assert.match(last, /done +manual-mitigation/);
    assert.match(last, /alice \(unauthenticated\) done at .*: "rolled back by hand"/);
    assert.match(last, /status validating/);
    await h.client.workflow.getHandle(workflowId).cancel();
  });
});
