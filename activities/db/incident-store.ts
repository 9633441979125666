// The incident store: incidents, their timeline, decisions, alert receipts, change events and
// follow-ups. Raw SQL with bound parameters; the workflow is the source of truth for live state.
import type { Pool } from 'pg';
import type { StepDecision } from '../../workflows/definitions';
import type { FlagRow } from '../flags';

export const CHANGE_KINDS = ['deploy', 'config', 'secret', 'migration', 'flag'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface IncidentRow {
  workflowId: string;
  runId: string;
  runbook: string;
  status: string;
  severity: string;
  service: string;
  environment: string;
  startedAt: string;
  diagnosis: unknown;
  resolution: string | null;
  /** The runbook's steps as they stand; written as incident_steps rows. */
  steps?: StepRecord[];
}

export interface StepRecord {
  id: string;
  section: string;
  title: string;
  kind: string;
  status: string;
  startedAt?: string;
  finishedAt?: string;
  note?: string;
  overBudget?: boolean;
  decisions?: StepDecision[];
}

export interface MaintenanceRun {
  workflowId: string;
  runId: string;
  runbook: string;
  startedAt: string;
  ok: boolean;
  summary: string;
  checks: unknown;
  incident?: { workflowId: string; outcome: string };
}

export interface TimelineEvent {
  seq: number;
  at: string;
  kind: string;
  step?: string;
  message: string;
  data?: unknown;
}

export interface ChangeEvent {
  service: string;
  environment: string;
  kind: ChangeKind;
  version?: string;
  description?: string;
  actor?: string;
  at: string;
}

export interface AlertReceipt {
  alertname: string;
  status: string;
  alertKey: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runbook?: string;
  workflowId?: string;
  outcome: 'started' | 'joined' | 'ignored';
  reason?: string;
}

export interface DecisionRecord {
  workflowId: string;
  step: string;
  decision: string;
  by: string;
  authenticated: boolean;
  comment?: string;
  outcome: 'accepted' | 'refused';
  reason?: string;
}

export interface MitigationRun {
  outcome: 'succeeded' | 'failed' | 'conflict' | null;
  exitCode: number | null;
  output: string | null;
  /** A flag change's row before it (row null: absent) and after it (row null: it changed nothing). */
  prior?: { row: FlagRow } | null;
  applied?: { row: FlagRow } | null;
}

/** One incident run: the workflow id, and the first run id of its chain. */
export interface RunKey {
  workflowId: string;
  runId: string;
}

export interface MitigationKey extends RunKey {
  step: string;
  phase: 'apply' | 'undo';
}

export class IncidentStore {
  private constructor(private readonly pool: Pool) {}

  static create(pool: Pool): IncidentStore {
    return new IncidentStore(pool);
  }

  async sync(incident: IncidentRow, events: TimelineEvent[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO incidents (workflow_id, run_id, runbook, status, severity, service, environment, started_at, diagnosis, resolution)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (workflow_id, run_id) DO UPDATE SET status = $4, severity = $5, diagnosis = $9,
           resolution = $10, updated_at = now()`,
        [
          incident.workflowId,
          incident.runId,
          incident.runbook,
          incident.status,
          incident.severity,
          incident.service,
          incident.environment,
          incident.startedAt,
          JSON.stringify(incident.diagnosis),
          incident.resolution,
        ],
      );
      // Every step in one statement: the store is written on each timeline batch.
      if (incident.steps?.length)
        await client.query(
          `INSERT INTO incident_steps (workflow_id, run_id, position, step, section, title, kind, status, started_at, finished_at, note, over_budget, decisions)
           SELECT $1, $2, s.position, s.id, s.section, s.title, s.kind, s.status, s."startedAt", s."finishedAt", s.note,
                  coalesce(s."overBudget", false), coalesce(s.decisions, '[]'::jsonb)
           FROM jsonb_to_recordset($3::jsonb) AS s(position int, id text, section text, title text, kind text, status text,
                "startedAt" timestamptz, "finishedAt" timestamptz, note text, "overBudget" boolean, decisions jsonb)
           ON CONFLICT (workflow_id, run_id, step) DO UPDATE SET status = EXCLUDED.status, started_at = EXCLUDED.started_at,
             finished_at = EXCLUDED.finished_at, note = EXCLUDED.note, over_budget = EXCLUDED.over_budget,
             decisions = EXCLUDED.decisions`,
          [
            incident.workflowId,
            incident.runId,
            JSON.stringify(incident.steps.map((st, position) => ({ ...st, position }))),
          ],
        );
      for (const e of events) {
        await client.query(
          `INSERT INTO incident_events (workflow_id, run_id, seq, at, kind, step, message, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
          [
            incident.workflowId,
            incident.runId,
            e.seq,
            e.at,
            e.kind,
            e.step ?? null,
            e.message,
            JSON.stringify(e.data ?? null),
          ],
        );
        if (e.kind === 'decision' || e.kind === 'decision_refused') {
          const d = (e.data ?? {}) as {
            step?: string;
            decision?: string;
            by?: string;
            comment?: string;
            authenticated?: boolean;
          };
          await client.query(
            `INSERT INTO decisions (workflow_id, step, decision, decided_by, authenticated, comment, outcome, reason, at, run_id, event_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
            [
              incident.workflowId,
              d.step ?? '',
              d.decision ?? '',
              d.by ?? '',
              // Only a decision the gateway authenticated says so; a missing flag is not authentication.
              d.authenticated === true,
              d.comment ?? null,
              e.kind === 'decision' ? 'accepted' : 'refused',
              e.kind === 'decision' ? null : e.message,
              e.at,
              incident.runId,
              e.seq,
            ],
          );
        }
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async recordPostIncident(workflowId: string, runId: string, report: unknown): Promise<void> {
    await this.pool.query(
      'UPDATE incidents SET post_incident = $3, updated_at = now() WHERE workflow_id = $1 AND run_id = $2',
      [workflowId, runId, JSON.stringify(report)],
    );
  }

  /** Idempotent per workflow run: a retried activity writes the same row once. */
  async recordMaintenanceRun(r: MaintenanceRun): Promise<void> {
    await this.pool.query(
      `INSERT INTO maintenance_runs (workflow_id, run_id, runbook, started_at, ok, summary, checks, incident_id, incident_outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [
        r.workflowId,
        r.runId,
        r.runbook,
        r.startedAt,
        r.ok,
        r.summary,
        JSON.stringify(r.checks),
        r.incident?.workflowId ?? null,
        r.incident?.outcome ?? null,
      ],
    );
  }

  async recordDrill(r: {
    workflowId: string;
    runId: string;
    runbook: string;
    scenario: string;
    passed: boolean;
    report: unknown;
  }): Promise<void> {
    await this.pool.query(
      `INSERT INTO drill_runs (workflow_id, run_id, runbook, scenario, passed, report)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [r.workflowId, r.runId, r.runbook, r.scenario, r.passed, JSON.stringify(r.report)],
    );
  }

  async recordDecision(d: DecisionRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO decisions (workflow_id, step, decision, decided_by, authenticated, comment, outcome, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [d.workflowId, d.step, d.decision, d.by, d.authenticated, d.comment ?? null, d.outcome, d.reason ?? null],
    );
  }

  async recordAlert(r: AlertReceipt): Promise<void> {
    await this.pool.query(
      `INSERT INTO alert_receipts (alertname, status, alert_key, labels, annotations, runbook, workflow_id, outcome, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        r.alertname,
        r.status,
        r.alertKey,
        JSON.stringify(r.labels),
        JSON.stringify(r.annotations),
        r.runbook ?? null,
        r.workflowId ?? null,
        r.outcome,
        r.reason ?? null,
      ],
    );
  }

  /**
   * When this alert, as now (status, labels and, when given, annotations), was last handed to the
   * workflow; undefined when its last receipt there differs or it has none.
   */
  async lastDelivered(
    r: Pick<AlertReceipt, 'workflowId' | 'alertKey' | 'status' | 'labels'> & { annotations?: Record<string, string> },
  ): Promise<Date | undefined> {
    const { rows } = await this.pool.query<{ received_at: Date }>(
      `SELECT received_at FROM (
         SELECT * FROM alert_receipts WHERE workflow_id = $1 AND alert_key = $2 ORDER BY id DESC LIMIT 1
       ) last
       WHERE outcome <> 'ignored' AND status = $3 AND labels = $4::jsonb
         AND ($5::jsonb IS NULL OR annotations = $5::jsonb)`,
      [
        r.workflowId,
        r.alertKey,
        r.status,
        JSON.stringify(r.labels),
        r.annotations ? JSON.stringify(r.annotations) : null,
      ],
    );
    return rows[0]?.received_at;
  }

  /** When the latest incident recorded under this workflow id started (its first run). */
  async incidentStartedAt(workflowId: string): Promise<Date | undefined> {
    const { rows } = await this.pool.query<{ started_at: Date | null }>(
      'SELECT max(started_at) AS started_at FROM incidents WHERE workflow_id = $1',
      [workflowId],
    );
    return rows[0]?.started_at ?? undefined;
  }

  /** An incident's steps as last recorded, in the runbook's order. */
  async steps(workflowId: string): Promise<(StepRecord & { durationMs: number | null })[]> {
    const { rows } = await this.pool.query<{
      step: string;
      section: string;
      title: string;
      kind: string;
      status: string;
      started_at: Date | null;
      finished_at: Date | null;
      duration_ms: string | null;
      note: string | null;
      decisions: StepDecision[];
    }>(
      `SELECT step, section, title, kind, status, started_at, finished_at, duration_ms, note, decisions FROM incident_steps
       WHERE workflow_id = $1 ORDER BY run_id, position`,
      [workflowId],
    );
    return rows.map((r) => ({
      id: r.step,
      section: r.section,
      title: r.title,
      kind: r.kind,
      status: r.status,
      startedAt: r.started_at?.toISOString(),
      finishedAt: r.finished_at?.toISOString(),
      note: r.note ?? undefined,
      decisions: r.decisions,
      durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
    }));
  }

  async addChange(c: ChangeEvent): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO change_events (service, environment, kind, version, description, actor, at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [c.service, c.environment, c.kind, c.version ?? null, c.description ?? null, c.actor ?? null, c.at],
    );
    return Number(rows[0].id);
  }

  async changesBetween(service: string, environment: string, from: Date, to: Date): Promise<ChangeEvent[]> {
    const { rows } = await this.pool.query<{
      service: string;
      environment: string;
      kind: ChangeKind;
      version: string | null;
      description: string | null;
      actor: string | null;
      at: Date;
    }>(
      `SELECT service, environment, kind, version, description, actor, at FROM change_events
       WHERE service = $1 AND environment = $2 AND at >= $3 AND at <= $4 ORDER BY at DESC LIMIT 100`,
      [service, environment, from, to],
    );
    return rows.map((r) => ({
      service: r.service,
      environment: r.environment,
      kind: r.kind,
      version: r.version ?? undefined,
      description: r.description ?? undefined,
      actor: r.actor ?? undefined,
      at: r.at.toISOString(),
    }));
  }

  async addFollowUps(run: RunKey, runbook: string, tasks: string[], dueAt: Date): Promise<void> {
    for (const task of tasks) {
      await this.pool.query(
        `INSERT INTO follow_ups (workflow_id, run_id, runbook, task, due_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workflow_id, run_id, task) DO NOTHING`,
        [run.workflowId, run.runId, runbook, task, dueAt],
      );
    }
  }

  /** Marks the run's follow-ups reminded; without a run (a reminder started before runs were kept), all of the workflow's. */
  async markFollowUpsReminded(workflowId: string, runId?: string): Promise<void> {
    await this.pool.query(
      `UPDATE follow_ups SET reminded_at = now()
       WHERE workflow_id = $1 AND ($2::text IS NULL OR run_id = $2) AND reminded_at IS NULL`,
      [workflowId, runId ?? null],
    );
  }

  /** Records the intent to run an action; false when a run for this incident run + step + phase exists. */
  async claimMitigationRun(
    key: MitigationKey,
    by: string,
    action: unknown,
    prior?: { row: FlagRow },
  ): Promise<boolean> {
    const res = await this.pool.query(
      `INSERT INTO mitigation_runs (workflow_id, run_id, step, phase, approved_by, action, prior)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [
        key.workflowId,
        key.runId,
        key.step,
        key.phase,
        by,
        JSON.stringify(action),
        prior === undefined ? null : JSON.stringify(prior),
      ],
    );
    return res.rowCount === 1;
  }

  async mitigationRun(key: MitigationKey): Promise<MitigationRun | undefined> {
    const { rows } = await this.pool.query<{
      outcome: MitigationRun['outcome'];
      exit_code: number | null;
      output: string | null;
      prior: { row: FlagRow } | null;
      applied: { row: FlagRow } | null;
    }>(
      `SELECT outcome, exit_code, output, prior, applied FROM mitigation_runs
       WHERE workflow_id = $1 AND run_id = $2 AND step = $3 AND phase = $4`,
      [key.workflowId, key.runId, key.step, key.phase],
    );
    const r = rows[0];
    return r && { outcome: r.outcome, exitCode: r.exit_code, output: r.output, prior: r.prior, applied: r.applied };
  }

  async finishMitigationRun(key: MitigationKey, run: MitigationRun): Promise<void> {
    await this.pool.query(
      `UPDATE mitigation_runs SET outcome = $5, exit_code = $6, output = $7, finished_at = now(),
         prior = coalesce($8, prior), applied = $9
       WHERE workflow_id = $1 AND run_id = $2 AND step = $3 AND phase = $4`,
      [
        key.workflowId,
        key.runId,
        key.step,
        key.phase,
        run.outcome,
        run.exitCode,
        run.output,
        run.prior === undefined ? null : JSON.stringify(run.prior),
        run.applied === undefined ? null : JSON.stringify(run.applied),
      ],
    );
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}
