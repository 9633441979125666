// The LLM app a cost-spike incident happens in: its own telemetry database (30 days written by the
// scenario generator), and a live writer that keeps adding inference events at a cost rate that
// follows the app's feature_flags, as the real app would read them.
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { migrate } from '../../activities/db/migrate';
import { generateTelemetry, type Scenario } from '../../activities/telemetry-scenarios';
import { requireEnv } from './harness';

/** A fresh database on the test server with the telemetry tables, and its URL. */
export async function createTelemetryDatabase(
  migrated = true,
): Promise<{ url: string; pool: Pool; drop(): Promise<void> }> {
  const admin = new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 1 });
  const name = `telemetry_${randomUUID().slice(0, 8)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(requireEnv('DATABASE_URL'));
  url.pathname = `/${name}`;
  const pool = new Pool({ connectionString: url.toString(), max: 4 });
  // Dropping the database ends its sessions; an idle client's notice of that is not a test failure.
  pool.on('error', () => undefined);
  if (migrated) await migrate(pool, 'telemetry');
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export interface LiveOptions {
  /** Cost per hour the app runs at while nothing is mitigated. */
  spikePerHour: number;
  /** Cost per hour once `mitigated()` says the mitigation took effect. */
  fixedPerHour: number;
  /** Reads the flags the app obeys; true once the cost is back down. */
  mitigated: (flags: Map<string, { enabled: boolean; value: string | null }>) => boolean;
  /** A feature the app stops serving when its flag row says enabled = false. */
  feature?: string;
}

export class LlmApp {
  private timer?: NodeJS.Timeout;
  private readonly tickMs = 200;

  constructor(readonly pool: Pool) {}

  /**
   * 30 days of a scenario ending at `now`. Ending at the wall clock, every day is weighted alike: the
   * runbook's baseline is the same hour on the 7 days before, and a quieter weekend would make the
   * spike's size depend on the day the suite runs.
   */
  async generate(scenario: Scenario, rows: number, now?: Date): Promise<void> {
    await this.pool.query('TRUNCATE inference_events, tool_calls, feature_flags');
    await generateTelemetry(this.pool, {
      scenario,
      rows,
      now: now ?? new Date(),
      toolRows: Math.round(rows / 5),
      ...(now ? {} : { weekend: 1 }),
    });
  }

  /** The mean cost of the current hour on the previous `days` days: the runbook's baseline. */
  async baselinePerHour(days = 7): Promise<number> {
    const { rows } = await this.pool.query<{ c: string }>(
      `SELECT sum(e.cost_usd) / $1::int AS c
       FROM generate_series(1, $1::int) d
       CROSS JOIN LATERAL (SELECT date_trunc('hour', now(), 'UTC') - make_interval(days => d) AS hour) h
       JOIN inference_events e ON e.created_at >= h.hour AND e.created_at < h.hour + interval '1 hour'`,
      [days],
    );
    return Number(rows[0].c);
  }

  /** Writes an event every 200 ms at the cost rate the flags call for. */
  live(opts: LiveOptions): void {
    this.timer = setInterval(() => void this.tick(opts).catch(() => undefined), this.tickMs);
  }

  private async tick(opts: LiveOptions): Promise<void> {
    const { rows } = await this.pool.query<{ feature: string; enabled: boolean; value: string | null }>(
      'SELECT feature, enabled, value FROM feature_flags',
    );
    const flags = new Map(rows.map((r) => [r.feature, { enabled: r.enabled, value: r.value }]));
    const feature = opts.feature ?? 'chat';
    if (flags.get(feature)?.enabled === false) return;
    const perHour = opts.mitigated(flags) ? opts.fixedPerHour : opts.spikePerHour;
    await this.pool.query(
      `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd, model)
       VALUES (now(), 'live', $1, 'user', 1000, 200, $2, 'claude-sonnet-4')`,
      [feature, ((perHour * this.tickMs) / 3_600_000).toFixed(6)],
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
