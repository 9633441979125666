// Scheduled maintenance on the local Temporal server: schedules kept in step with config, a due
// run executing on its own, and each maintenance runbook's checks against real things: a TLS
// server with a 3-day certificate, log files over their limits, a real pg_dump restored into a
// scratch database on the machine's Postgres, an invalid index left by a failed index build.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'pg';
import { migrate } from '../../activities/db/migrate';
import { maintenanceScheduleId, runMaintenanceNow, syncMaintenanceSchedules } from '../../client/maintenance-schedules';
import { removeSchedule, scheduleState } from '../../client/schedules';
import { parseConfig } from '../../config/load';
import type { ConfigInput } from '../../config/schema';
import { MAINTENANCE_RUNBOOKS } from '../../workflows/definitions';
import type { CheckResult } from '../../workflows/toolkit/document-checks';
import { createHarness, eventually, type Harness } from '../support/harness';
import { createTelemetryDatabase } from '../support/llm-app';
import { shortLivedTlsServer, type ShortLivedTls } from '../support/tls';

// pg_dump and pg_restore come from Debian's postgresql-client, which must match the server: the
// machine's Postgres is the backups' server and the restore check's scratch server.
const SYSTEM_POSTGRES = process.env.SYSTEM_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const byStep = (checks: CheckResult[], fragment: string): CheckResult => {
  const found = checks.find((c) => c.step.includes(fragment));
  assert.ok(found, `no check step containing "${fragment}" in ${checks.map((c) => c.step).join(', ')}`);
  return found;
};

describe('scheduled maintenance', () => {
  const service = `maint-${Date.now().toString(36)}`;
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-logs-'));
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-backups-'));
  let tls: ShortLivedTls;
  let telemetry: Awaited<ReturnType<typeof createTelemetryDatabase>>;
  let h: Harness;
  let configInput: ConfigInput;
  const opened = new Set<string>();

  before(async () => {
    tls = await shortLivedTlsServer(3);
    telemetry = await createTelemetryDatabase();
    // A unique index built concurrently over duplicates fails and leaves the index invalid.
    await telemetry.pool.query('CREATE TABLE dup (x int); INSERT INTO dup VALUES (1), (1)');
    await assert.rejects(telemetry.pool.query('CREATE UNIQUE INDEX CONCURRENTLY dup_x ON dup (x)'));
    configInput = {
      maintenance: { service, environment: 'test', schedules: { 'certificate-management': { every: '2s' } } },
      dataSources: {
        tlsEndpoints: [tls.endpoint],
        logs: { directories: [logDir], maxFileMb: 1, retentionDays: 14 },
        backups: { directory: backupDir, scratchDatabaseUrl: SYSTEM_POSTGRES },
      },
    };
    h = await createHarness('maintenance', configInput, {}, { telemetryUrl: telemetry.url });
    await h.startWorker();
  });

  after(async () => {
    for (const runbook of MAINTENANCE_RUNBOOKS) await removeSchedule(h.client, maintenanceScheduleId(runbook));
    for (const id of opened)
      await h.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    await h?.close();
    await telemetry?.drop();
    await tls?.close();
    rmSync(logDir, { recursive: true, force: true });
    rmSync(backupDir, { recursive: true, force: true });
  });

  test('schedules from config: created, updated in place, removed when switched off', async () => {
    for (const runbook of MAINTENANCE_RUNBOOKS) await removeSchedule(h.client, maintenanceScheduleId(runbook));
    const first = await syncMaintenanceSchedules(h.client, h.config, h.taskQueue);
    assert.deepEqual(
      first.map((s) => s.outcome),
      ['created', 'created', 'created', 'created'],
    );
    const again = await syncMaintenanceSchedules(h.client, h.config, h.taskQueue);
    assert.deepEqual(
      again.map((s) => s.outcome),
      ['updated', 'updated', 'updated', 'updated'],
    );
    const cert = await scheduleState(h.client, maintenanceScheduleId('certificate-management'));
    assert.equal(cert.every, '2s');
    assert.equal((await scheduleState(h.client, maintenanceScheduleId('database-maintenance'))).every, '1d');

    const off = parseConfig(
      {
        ...configInput,
        maintenance: { ...configInput.maintenance, schedules: { 'log-management': { enabled: false } } },
      },
      'test config',
      {},
    );
    const synced = await syncMaintenanceSchedules(h.client, off, h.taskQueue);
    assert.equal(synced.find((s) => s.runbook === 'log-management')?.outcome, 'removed');
    assert.equal((await scheduleState(h.client, maintenanceScheduleId('log-management'))).exists, false);
    const noBackups = parseConfig({ maintenance: { service } }, 'test config', {});
    const plan = await syncMaintenanceSchedules(h.client, noBackups, h.taskQueue);
    assert.match(plan.find((s) => s.runbook === 'backup-recovery')?.reason ?? '', /no backup directory configured/);
    assert.equal(plan.find((s) => s.runbook === 'backup-recovery')?.outcome, 'removed');
    // Put back what the next test runs on.
    await syncMaintenanceSchedules(h.client, h.config, h.taskQueue);
  });

  test('a due run executes; a certificate under the threshold opens certificate-management once', async () => {
    const since = new Date();
    type Row = {
      workflow_id: string;
      ok: boolean;
      incident_id: string | null;
      incident_outcome: string | null;
      checks: CheckResult[];
    };
    const rows = await eventually(
      'two scheduled certificate passes recorded',
      async () => {
        const { rows } = await h.pool.query<Row>(
          `SELECT workflow_id, ok, incident_id, incident_outcome, checks FROM maintenance_runs
           WHERE runbook = 'certificate-management' AND workflow_id LIKE $1 AND started_at >= $2 ORDER BY started_at`,
          [`${maintenanceScheduleId('certificate-management')}-run%`, since],
        );
        return rows.length >= 2 ? rows : undefined;
      },
      60_000,
    );
    await removeSchedule(h.client, maintenanceScheduleId('certificate-management'));
    const cert = byStep(rows[0].checks, 'days-to-expiry');
    assert.equal(cert.outcome, 'missed');
    assert.equal(cert.output, '2');
    assert.ok(rows.every((r) => !r.ok));
    const incident = rows[0].incident_id ?? '';
    assert.ok(incident.startsWith('incident/certificate-management/maintenance-'), String(incident));
    opened.add(incident);
    assert.ok(rows.every((r) => r.incident_id === incident));
    // Whichever pass came first opened it; a later one finding the same had nothing to tell it.
    assert.equal(
      rows.filter((r) => r.incident_outcome === 'started').length,
      rows[0].incident_outcome === 'started' ? 1 : 0,
    );
    assert.ok(rows.slice(1).every((r) => r.incident_outcome === 'unchanged'));
    const d = await h.client.workflow.getHandle(incident).describe();
    assert.equal(d.status.name, 'RUNNING');
    const runs = await h.pool.query('SELECT DISTINCT run_id FROM incidents WHERE workflow_id = $1', [incident]);
    assert.equal(runs.rowCount, 1);
  });

  test('backup-recovery: the newest dump restores into a scratch database; a corrupt one fails', async (t) => {
    const admin = new Pool({ connectionString: SYSTEM_POSTGRES, max: 1 });
    try {
      await admin.query('SELECT 1');
    } catch (err) {
      if (process.env.REQUIRE_SYSTEM_PACKAGES === '1') throw err;
      return t.skip(`the machine's Postgres (${SYSTEM_POSTGRES}) is not reachable`);
    }
    const source = `maint_src_${Date.now().toString(36)}`;
    await admin.query(`CREATE DATABASE ${source}`);
    try {
      const url = new URL(SYSTEM_POSTGRES);
      url.pathname = `/${source}`;
      const pool = new Pool({ connectionString: url.toString(), max: 1 });
      await migrate(pool, 'telemetry');
      await pool.query(
        "INSERT INTO inference_events (user_id, feature, cost_usd) VALUES ('u1', 'chat', 0.1), ('u2', 'chat', 0.2), ('u3', 'search', 0.3)",
      );
      await pool.query("INSERT INTO feature_flags (feature, enabled) VALUES ('auto_save', true)");
      await pool.end();
      execFileSync('pg_dump', ['-Fc', '-f', path.join(backupDir, 'nightly-1.dump'), url.toString()]);

      const good = await runMaintenanceNow(h.client, h.config, 'backup-recovery', h.taskQueue);
      const age = byStep(good.checks, 'newest-dump-and-its-age');
      assert.equal(age.outcome, 'met');
      assert.ok(Number(age.output) < 1, age.summary);
      const restore = byStep(good.checks, 'dump-restores');
      assert.equal(restore.outcome, 'met', restore.summary);
      assert.equal(restore.output, '3');
      assert.match(JSON.stringify(restore.evidence), /1 feature_flags/);
      // The embedded Postgres archives no WAL: the document's archiving check fails the pass.
      assert.equal(byStep(good.checks, 'wal-archiving-is-on').outcome, 'missed');
      assert.equal(good.ok, false);
      assert.equal(good.incident?.outcome, 'started');
      opened.add(good.incident.workflowId);

      writeFileSync(path.join(backupDir, 'nightly-2.dump'), 'not a dump');
      const bad = await runMaintenanceNow(h.client, h.config, 'backup-recovery', h.taskQueue);
      const failed = byStep(bad.checks, 'dump-restores');
      assert.equal(failed.outcome, 'unavailable');
      assert.match(failed.summary, /pg_restore exited 1/);
      assert.deepEqual(bad.incident, { workflowId: good.incident.workflowId, outcome: 'joined' });
      const left = await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'restore_check_%'");
      assert.deepEqual(left.rows, [], 'scratch databases are dropped');
      const stored = await h.pool.query('SELECT ok, summary FROM maintenance_runs WHERE workflow_id LIKE $1', [
        `${maintenanceScheduleId('backup-recovery')}-now-%`,
      ]);
      assert.equal(stored.rowCount, 2);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${source} WITH (FORCE)`);
      await admin.end();
    }
  });

  test('log-management: rotation and retention of the configured log directory', async () => {
    mkdirSync(path.join(logDir, 'old'));
    writeFileSync(path.join(logDir, 'api.log'), Buffer.alloc(2 * 1024 * 1024, 'x'));
    const stale = path.join(logDir, 'old', 'api.log.3.gz');
    writeFileSync(stale, 'old');
    const twentyDaysAgo = new Date(Date.now() - 20 * 86_400_000);
    utimesSync(stale, twentyDaysAgo, twentyDaysAgo);

    const outcome = await runMaintenanceNow(h.client, h.config, 'log-management', h.taskQueue);
    const logs = byStep(outcome.checks, 'log-directories-in-config');
    assert.equal(logs.outcome, 'missed');
    assert.equal(logs.output, '2');
    assert.match(
      JSON.stringify(logs.evidence),
      /rotation: .*api\.log is 2 MB.*retention: .*api\.log\.3\.gz last written 20 days ago/,
    );
    // Prometheus and the API's URL are not configured here: skipped, not failed.
    assert.ok(outcome.checks.some((c) => c.outcome === 'not_configured'));
    assert.equal(outcome.ok, false);
    assert.ok(outcome.incident);
    opened.add(outcome.incident.workflowId);

    rmSync(stale);
    writeFileSync(path.join(logDir, 'api.log'), 'rotated\n');
    const clean = await runMaintenanceNow(h.client, h.config, 'log-management', h.taskQueue);
    assert.equal(byStep(clean.checks, 'log-directories-in-config').outcome, 'met');
    assert.equal(clean.ok, true, clean.summary);
    assert.equal(clean.incident, undefined);
  });

  test('database-maintenance: an invalid index fails the index check, nothing else does', async () => {
    const outcome = await runMaintenanceNow(h.client, h.config, 'database-maintenance', h.taskQueue);
    const index = byStep(outcome.checks, 'check-index-health');
    assert.equal(index.outcome, 'missed');
    assert.equal(index.output, '1');
    assert.match(JSON.stringify(index.evidence), /dup_x/);
    assert.deepEqual(
      outcome.checks.filter((c) => c.outcome !== 'met').map((c) => c.step),
      [index.step],
    );
    assert.equal(outcome.incident?.outcome, 'started');
    opened.add(outcome.incident.workflowId);
    const state = await h.incidents.state(outcome.incident.workflowId);
    assert.equal(state.runbook, 'database-maintenance');
    // The Web UI's current details list the checks with their verdicts.
    const { rows } = await h.pool.query<{ workflow_id: string }>(
      "SELECT workflow_id FROM maintenance_runs WHERE runbook = 'database-maintenance' ORDER BY started_at DESC LIMIT 1",
    );
    const metadata = await h.client.workflow
      .getHandle(rows[0].workflow_id)
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', /- \[ \] Check index health.*: 1 \(expected = 0: NOT as expected\)/);
    assert.match(metadata.currentDetails ?? '', /- \[x\] Find the longest open transaction/);
    assert.equal(state.severity, 'P3');
  });
});
