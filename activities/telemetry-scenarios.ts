// Realistic LLM-app telemetry for the cost-spike runbook: 30 days of inference_events and
// tool_calls with a daily and weekly rhythm, and one injected root cause per scenario in the last
// hours (the spike). Rows are made in Postgres (INSERT ... SELECT over generate_series), one
// statement per day, so 10 million rows take minutes, not hours, and the rollup triggers see a
// day's batch at a time. Drills' synthetic incidents, `npm run seed:telemetry` and the tests and
// benchmarks all write it through here.
import type { Pool, PoolClient } from 'pg';
import { COST_CAUSES } from '../workflows/runbooks/cost-spike.diagnose';

/** One scenario per cause the cost-spike runbook diagnoses, and one with no spike at all. */
export const SCENARIOS = ['no_spike', ...COST_CAUSES] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface GenerateOptions {
  scenario: Scenario;
  /** inference_events rows in total (spike included). */
  rows: number;
  /** tool_calls rows; default rows / 5. */
  toolRows?: number;
  /** The data ends here; default the current time. */
  now?: Date;
  /** How long before `now` the root cause set in; default 8 hours. */
  spikeHours?: number;
  /** Weekend traffic as a share of a weekday's; default 0.7. */
  weekend?: number;
  /** setseed() value in [-1, 1]: the same options write the same rows. */
  seed?: number;
  /** Called after each day's batch. */
  progress?: (done: number, total: number) => void;
}

const HOUR_MS = 3_600_000;
const DAYS = 30;

/** Share of a spike hour's rows that the root cause adds on top of the baseline. */
const EXTRA_SHARE: Record<Scenario, number> = {
  no_spike: 0,
  traffic_increase: 0.45,
  bot_or_abuse: 0.45,
  hidden_recompute: 0.4,
  context_bloat: 0,
  output_growth: 0,
  feature_regression: 0,
  tool_retry_storm: 0.35,
};

interface HourPlan {
  hour: Date;
  /** Seconds of the hour that lie before `now` (the last hour is partial). */
  span: number;
  spike: boolean;
  weight: number;
}

function plan(now: Date, spikeHours: number, scenario: Scenario, weekend: number): HourPlan[] {
  const last = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
  const spikeFrom = now.getTime() - spikeHours * HOUR_MS;
  const hours: HourPlan[] = [];
  for (let t = last - DAYS * 24 * HOUR_MS; t <= last; t += HOUR_MS) {
    const d = new Date(t);
    const span = Math.min(3600, (now.getTime() - t) / 1000);
    if (span <= 0) continue;
    // Busiest mid-afternoon UTC, quietest at night; quieter weekends; slow growth over the month.
    const daily = 0.3 + 0.7 * (0.5 - 0.5 * Math.cos((2 * Math.PI * (d.getUTCHours() - 4)) / 24));
    const weekly = d.getUTCDay() === 0 || d.getUTCDay() === 6 ? weekend : 1;
    const trend = 1 + (0.1 * (t - (last - DAYS * 24 * HOUR_MS))) / (DAYS * 24 * HOUR_MS);
    const spike = t + span * 1000 > spikeFrom;
    const extra = spike ? 1 / (1 - EXTRA_SHARE[scenario]) : 1;
    hours.push({ hour: d, span, spike, weight: daily * weekly * trend * extra * (span / 3600) });
  }
  return hours;
}

/** Splits `total` over the weights, rounding so the counts add up exactly. */
function allocate(weights: number[], total: number): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w / sum) * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    counts[i]++;
  }
  return counts;
}

// $1 hours, $2 spans (s), $3 counts, $4 spike flags, $5 scenario, $6 extra share.
// Levels: x draws the random numbers once per row, y derives the event, the outer prices it.
const INFERENCE_SQL = `
INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd,
                              model, user_agent, tenant, api_key_id)
SELECT created_at, 'u' || user_num, feature, trigger_type, input_tokens, output_tokens,
       round((input_tokens * 3 + output_tokens * 15) / 1000000.0, 6), model, user_agent,
       't' || (user_num % 50), 'key_' || (user_num % 50)
FROM (
  SELECT x.hour + x.r_at * x.span * interval '1 second' AS created_at, x.extra,
    CASE WHEN x.extra AND $5 = 'bot_or_abuse' THEN 900000 + floor(x.r_user * 5)::int
         WHEN x.extra AND $5 = 'traffic_increase' THEN 20000 + floor(x.r_user * 30000)::int
         -- Recompute and tool retries come from a few heavy users' open sessions: requests rise, users
         -- stay flat (at most 10 more per hour).
         WHEN x.extra THEN floor(10 * x.r_user)::int
         ELSE floor(20000 * x.r_user * x.r_user)::int END AS user_num,
    f.feature,
    CASE WHEN x.extra AND $5 = 'hidden_recompute' THEN (ARRAY['auto_save', 'undo', 'retry'])[1 + floor(x.r_trig * 3)::int]
         WHEN x.extra AND $5 = 'tool_retry_storm' THEN 'tool_followup'
         WHEN x.r_trig < 0.82 THEN 'user' WHEN x.r_trig < 0.88 THEN 'regenerate' WHEN x.r_trig < 0.93 THEN 'auto_save'
         WHEN x.r_trig < 0.97 THEN 'retry' ELSE 'undo' END AS trigger_type,
    greatest(1, round(exp(ln(f.input_median) + 0.5 * sqrt(-2 * ln(1 - x.r_in1)) * cos(2 * pi() * x.r_in2))
      * CASE WHEN x.spike AND $5 = 'context_bloat' THEN 3
             WHEN x.spike AND $5 = 'feature_regression' AND f.feature = 'summarize' THEN 3 ELSE 1 END))::int AS input_tokens,
    greatest(1, round(exp(ln(f.output_median) + 0.6 * sqrt(-2 * ln(1 - x.r_out1)) * cos(2 * pi() * x.r_out2))
      * CASE WHEN x.spike AND $5 = 'output_growth' THEN 2.5
             WHEN x.spike AND $5 = 'feature_regression' AND f.feature = 'summarize' THEN 3 ELSE 1 END))::int AS output_tokens,
    CASE WHEN x.spike AND $5 = 'output_growth' THEN 'claude-sonnet-4-5' ELSE 'claude-sonnet-4' END AS model,
    CASE WHEN x.extra AND $5 = 'bot_or_abuse' THEN 'python-requests/2.32.3'
         WHEN x.r_ua < 0.6 THEN 'app-web/3.2' WHEN x.r_ua < 0.85 THEN 'app-ios/3.2' ELSE 'app-android/3.2' END AS user_agent
  FROM (
    SELECT p.hour, p.span, p.spike, p.spike AND random() < $6 AS extra, random() AS r_at, random() AS r_user,
           random() AS r_feat, random() AS r_trig, random() AS r_in1, random() AS r_in2, random() AS r_out1,
           random() AS r_out2, random() AS r_ua
    FROM unnest($1::timestamptz[], $2::float8[], $3::int[], $4::boolean[]) AS p(hour, span, n, spike),
         generate_series(1, p.n) g
  ) x
  CROSS JOIN LATERAL (
    SELECT * FROM (VALUES
      ('chat', 0.00, 1500, 350), ('summarize', 0.40, 3000, 250), ('code_assist', 0.58, 2500, 500),
      ('search', 0.73, 800, 150), ('doc_qa', 0.85, 4000, 300), ('agent', 0.95, 2000, 400)
    ) v(feature, from_r, input_median, output_median)
    WHERE v.from_r <= CASE WHEN x.extra AND $5 IN ('tool_retry_storm', 'bot_or_abuse') THEN
                             CASE WHEN $5 = 'bot_or_abuse' THEN 0 ELSE 0.99 END
                           ELSE x.r_feat END
    ORDER BY v.from_r DESC LIMIT 1
  ) f
) y`;

// $1 hours, $2 spans, $3 counts, $4 spike flags, $5 scenario.
const TOOL_SQL = `
INSERT INTO tool_calls (created_at, tool_name, success, retries, latency_ms)
SELECT created_at, tool_name, NOT failed,
       CASE WHEN storm THEN 3 + floor(r_retry * 3)::int WHEN failed THEN 1 + floor(r_retry * 2)::int
            WHEN r_retry < 0.05 THEN 1 ELSE 0 END,
       CASE WHEN storm THEN 8000 + floor(r_lat * 22000)::int ELSE 80 + floor(r_lat * r_lat * 2000)::int END
FROM (
  SELECT *, storm_tool AND r_fail < 0.45 AS storm, CASE WHEN storm_tool THEN r_fail < 0.45 ELSE r_fail < 0.02 END AS failed
  FROM (
    SELECT created_at, tool_name, r_fail, r_retry, r_lat, spike AND $5 = 'tool_retry_storm' AND tool_name = 'web_search' AS storm_tool
    FROM (
      SELECT p.hour + random() * p.span * interval '1 second' AS created_at, p.spike,
             CASE WHEN r < 0.35 THEN 'web_search' WHEN r < 0.55 THEN 'code_exec' WHEN r < 0.80 THEN 'db_lookup'
                  WHEN r < 0.90 THEN 'calculator' ELSE 'file_read' END AS tool_name,
             random() AS r_fail, random() AS r_retry, random() AS r_lat
      FROM unnest($1::timestamptz[], $2::float8[], $3::int[], $4::boolean[]) AS p(hour, span, n, spike),
           LATERAL (SELECT random() AS r, g FROM generate_series(1, p.n) g) d
    ) a
  ) b
) c`;

/** Writes one scenario's 30 days; returns the rows written. */
export async function generateTelemetry(
  pool: Pool,
  options: GenerateOptions,
): Promise<{ events: number; tools: number }> {
  const now = options.now ?? new Date();
  const hours = plan(now, options.spikeHours ?? 8, options.scenario, options.weekend ?? 0.7);
  const eventCounts = allocate(
    hours.map((h) => h.weight),
    options.rows,
  );
  // Tool calls follow the baseline rhythm; a retry storm doubles them while it lasts.
  const toolCounts = allocate(
    hours.map(
      (h) =>
        (h.weight / (h.spike ? 1 / (1 - EXTRA_SHARE[options.scenario]) : 1)) *
        (h.spike && options.scenario === 'tool_retry_storm' ? 2 : 1),
    ),
    options.toolRows ?? Math.round(options.rows / 5),
  );
  const client: PoolClient = await pool.connect();
  try {
    await client.query('SELECT setseed($1)', [options.seed ?? 0.42]);
    for (let start = 0; start < hours.length; start += 24) {
      const part = hours.slice(start, start + 24);
      const common = [part.map((h) => h.hour), part.map((h) => h.span)];
      const spikes = part.map((h) => h.spike);
      await client.query(INFERENCE_SQL, [
        ...common,
        eventCounts.slice(start, start + 24),
        spikes,
        options.scenario,
        EXTRA_SHARE[options.scenario],
      ]);
      await client.query(TOOL_SQL, [...common, toolCounts.slice(start, start + 24), spikes, options.scenario]);
      options.progress?.(Math.min(start + 24, hours.length), hours.length);
    }
  } finally {
    client.release();
  }
  return { events: options.rows, tools: toolCounts.reduce((a, b) => a + b, 0) };
}
