// The `runbook` CLI as a user runs it: a separate process reaching Temporal the way the worker
// does, with --json giving exactly one JSON document.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createGateway } from '../../client/gateway/server';
import { PROJECT_ROOT } from '../../dev/temporal-binaries';
import type { ConfigInput } from '../../config/schema';
import type { IncidentState } from '../../workflows/definitions';
import { createHarness, eventually, requireEnv, type Harness } from '../support/harness';
import { secret } from '../support/secrets';

const ALICE_TOKEN = secret('RUNBOOK_TOKEN (alice)');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-cli-'));

describe('runbook CLI', () => {
  let h: Harness;
  let gateway: http.Server;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const config: ConfigInput = {
      responders: [{ name: 'alice', tokenSha256: sha256(ALICE_TOKEN), roles: ['oncall'] }],
      actions: { 'rollback-deploy': { run: [process.execPath, '-e', 'process.exit(0)'] } },
    };
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    h = await createHarness('cli', config);
    await h.startWorker();
    gateway = createGateway({
      client: h.client,
      config: h.config,
      store: h.store,
      taskQueue: h.taskQueue,
      signingKey: h.env.DECISION_SIGNING_KEY,
      log: () => undefined,
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    env = {
      RUNBOOK_GATEWAY_URL: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: requireEnv('TEMPORAL_ADDRESS'),
      RUNBOOKS_CONFIG: path.join(dir, 'config.json'),
      RUNBOOKS_TASK_QUEUE: h.taskQueue,
    };
  });

  after(async () => {
    gateway?.closeAllConnections();
    await new Promise((r) => gateway?.close(r));
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function runbook(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return runbookWith({}, ...args);
  }

  function runbookWith(
    extra: NodeJS.ProcessEnv,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [path.join(PROJECT_ROOT, 'bin/runbook'), ...args],
        { env: { ...env, ...extra }, cwd: dir },
        (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  }

  test('probe: enable creates the schedule, pause and resume with a note, status says which', async () => {
    try {
      const enabled = await runbook('probe', 'enable', '--json');
      assert.equal(enabled.code, 0, enabled.stderr);
      const state = JSON.parse(enabled.stdout) as { id: string; exists: boolean; paused: boolean; every: string };
      assert.deepEqual([state.id, state.exists, state.paused, state.every], ['llm-provider-probe', true, false, '1m']);
      const paused = await runbook('probe', 'pause', '--comment', 'provider maintenance window');
      assert.equal(paused.code, 0, paused.stderr);
      assert.match(paused.stdout, /llm-provider-probe: PAUSED every 1m \(provider maintenance window\)/);
      const resumed = await runbook('probe', 'resume');
      assert.match(resumed.stdout, /llm-provider-probe: running every 1m/);
      const bad = await runbook('probe', 'explode');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /probe: status, pause, resume or enable/);
    } finally {
      await h.client.schedule
        .getHandle('llm-provider-probe')
        .delete()
        .catch(() => undefined);
    }
  });

  test('start, list, status, acknowledge, and refusals with their exit codes', async () => {
    const key = `cli-${randomUUID().slice(0, 6)}`;
    const started = await runbook(
      'start',
      'api-error-budget',
      '--key',
      key,
      '--environment',
      key,
      '--param',
      'approvalDeadline=1h',
      '--json',
    );
    assert.equal(started.code, 0, started.stderr);
    const out = JSON.parse(started.stdout) as { workflowId: string; runbook: string; outcome: string };
    assert.equal(out.workflowId, `incident/api-error-budget/${key}`);
    assert.equal(out.runbook, 'api-error-budget');
    assert.equal(out.outcome, 'started');

    const state = await eventually('the approval in `runbook status --json`', async () => {
      const s = await runbook('status', out.workflowId, '--json');
      const parsed = JSON.parse(s.stdout) as IncidentState;
      return parsed.pendingApprovals.length ? parsed : undefined;
    });
    assert.equal(state.params.approvalDeadline, '1h', '--param reached the workflow');
    assert.equal(state.environment, key);

    const listed = await eventually('the incident in `runbook list --open --json`', async () => {
      const l = JSON.parse((await runbook('list', '--open', '--json')).stdout) as {
        workflowId: string;
        status: string;
        severity: string;
        runbook: string;
      }[];
      return l.find((i) => i.workflowId === out.workflowId && i.status === 'awaiting_approval');
    });
    assert.equal(listed.runbook, 'api-error-budget');
    assert.equal(listed.severity, 'P2');

    const text = await runbook('status', out.workflowId);
    assert.match(text.stdout, /WAITING: acknowledge/);

    // Without a responder token the CLI reaches Temporal directly: refused, whatever name it gives.
    const stranger = await runbook('ack', out.workflowId, 'acknowledge', '--by', 'mallory');
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /refused \(403\): "mallory" is not a responder/);
    const direct = await runbook('ack', out.workflowId, 'acknowledge', '--by', 'alice');
    assert.equal(direct.code, 1);
    assert.match(
      direct.stderr,
      /refused \(403\): not authenticated by the gateway \(no proof from the gateway\): .*RUNBOOK_TOKEN/,
    );
    // With one it goes through the gateway, which names the token's owner.
    const token = { RUNBOOK_TOKEN: ALICE_TOKEN };
    const acked = await runbookWith(
      token,
      'ack',
      out.workflowId,
      'acknowledge',
      '--by',
      'someone',
      '--comment',
      'on it',
    );
    assert.equal(acked.code, 0, acked.stderr);
    assert.match(acked.stdout, /acknowledge accepted for acknowledge by alice/);
    const again = await runbookWith(token, 'ack', out.workflowId, 'acknowledge', '--by', 'alice');
    assert.match(again.stderr, /refused \(409\)/);
    const after = await eventually('the acknowledgement in `runbook status`', async () => {
      const t = (await runbook('status', out.workflowId)).stdout;
      return /done +acknowledge/.test(t) ? t : undefined;
    });
    assert.match(after, /alice acknowledge at .*: "on it"/, 'authenticated: no "(unauthenticated)"');
    const refused = await h.pool.query(
      "SELECT message FROM incident_events WHERE workflow_id = $1 AND kind = 'decision_refused'",
      [out.workflowId],
    );
    assert.match(
      refused.rows[0]?.message ?? '',
      /^alice tried to acknowledge acknowledge: not authenticated by the gateway/,
    );
    await h.client.workflow.getHandle(out.workflowId).cancel();
  });

  test('usage errors exit 2 and name the problem', async () => {
    const unknown = await runbook('start', 'no-such-runbook');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown runbook "no-such-runbook"/);
    const badParam = await runbook('start', 'api-error-budget', '--param', 'validationWindow=soon');
    assert.equal(badParam.code, 1);
    assert.match(badParam.stderr, /validationWindow/);
    assert.equal((await runbook('decide', 'x', 'y', 'maybe', '--by', 'a')).code, 2);
  });

  test('docs renders every runbook id in the catalogue template, without any service', async () => {
    const out = path.join(dir, 'docs');
    const res = await runbook('docs', '--out', out);
    assert.equal(res.code, 0, res.stderr);
    const files = readdirSync(out).sort();
    assert.equal(files.length, 14);
    const doc = readFileSync(path.join(out, 'api-error-budget.md'), 'utf8');
    for (const section of [
      'Overview',
      'Symptoms',
      'Immediate Actions',
      'Investigation Steps',
      'Resolution Steps',
      'Prevention',
      'Escalation',
    ]) {
      assert.match(doc, new RegExp(`^## ${section}$`, 'm'));
    }
    assert.match(doc, /Pause automated deploys if within the release window/);
    assert.match(doc, /`validationWindow` \| `15m`/);
  });

  test('maintenance: sync makes the schedules, run checks now and exits by the outcome, status shows them', async () => {
    try {
      const synced = await runbook('maintenance', 'sync');
      assert.equal(synced.code, 0, synced.stderr);
      assert.match(synced.stdout, /maintenance-database-maintenance: (created|updated) \(every 1d\)/);
      assert.match(synced.stdout, /maintenance-backup-recovery: off \(no backup directory configured/);
      const run = await runbook('maintenance', 'run', 'database-maintenance', '--json');
      const outcome = JSON.parse(run.stdout) as { ok: boolean; checks: { outcome: string }[] };
      assert.equal(run.code, outcome.ok ? 0 : 1, run.stderr);
      assert.equal(outcome.checks.length, 4);
      const status = await runbook('maintenance', 'status');
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /maintenance-log-management: scheduled every 1h, next 20\d\d-/);
      assert.match(status.stdout, /maintenance-certificate-management: off: no TLS endpoints configured/);
      const bad = await runbook('maintenance', 'run', 'service-down');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /maintenance run: one of database-maintenance, log-management/);
    } finally {
      for (const id of ['database-maintenance', 'log-management'])
        await h.client.schedule
          .getHandle(`maintenance-${id}`)
          .delete()
          .catch(() => undefined);
    }
  });

  test('drill: list without a service, a drill run with its report, schedules from config', async () => {
    const list = await runbook('drill', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /cost-spike\s+hidden-recompute\s+auto-save recomputing/);
    const unknown = await runbook('drill', 'cost-spike', '--scenario', 'nope');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--scenario one of hidden-recompute, context-bloat/);

    const drill = await runbook('drill', 'api-error-budget', '--scenario', 'config-drift');
    assert.equal(drill.code, 0, drill.stderr + drill.stdout);
    assert.match(drill.stdout, /drill api-error-budget · config-drift: PASSED/);
    assert.match(drill.stdout, /diagnosis config_drift: expected config_drift, reached/);
    assert.match(drill.stdout, /mitigation restore-secret: expected restore-secret, reached/);
    assert.match(drill.stdout, /done +\d+\.\d s {2}recent-changes/);

    const file = path.join(dir, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as ConfigInput;
    try {
      const schedules = [{ runbook: 'cost-spike', scenario: 'context-bloat', every: '1d' }];
      writeFileSync(file, JSON.stringify({ ...config, drills: { schedules } }));
      const synced = await runbook('drill', 'sync');
      assert.match(synced.stdout, /drill-cost-spike-context-bloat: (created|updated)/);
      // One scheduled run, now (as the Web UI's "Trigger"); status shows its verdict.
      await h.client.schedule.getHandle('drill-cost-spike-context-bloat').trigger();
      await eventually(
        'a scheduled drill to finish',
        async () => {
          const status = await runbook('drill', 'status', '--json');
          const [d] = JSON.parse(status.stdout) as { last?: { passed?: boolean } }[];
          return d.last?.passed;
        },
        90_000,
        1_000,
      );
      const shown = await runbook('drill', 'status');
      assert.match(
        shown.stdout,
        /drill-cost-spike-context-bloat: scheduled every 1d, next .*\n {2}last drill .*: PASSED/,
      );
      writeFileSync(
        file,
        JSON.stringify({ ...config, drills: { schedules: [{ runbook: 'cost-spike', scenario: 'typo' }] } }),
      );
      const refused = await runbook('drill', 'sync');
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /drills\.schedules\.0\.scenario: no drill scenario "typo" for cost-spike/);
      writeFileSync(file, JSON.stringify(config));
      const removed = await runbook('drill', 'sync');
      assert.match(removed.stdout, /drill-cost-spike-context-bloat: removed/);
    } finally {
      writeFileSync(file, JSON.stringify(config));
    }
  });
});
