// `npm run seed:telemetry -- --scenario <name> --rows N [--tool-rows M] [--now ISO]
//     [--spike-hours 8] [--seed 0.42] [--replace | --append]`: one scenario's 30 days of telemetry
// (activities/telemetry-scenarios.ts). Writes to TELEMETRY_DATABASE_URL, else DATABASE_URL, after
// applying the telemetry migrations. Refuses to add to non-empty tables unless told --replace
// (truncate first) or --append.
import { generateTelemetry, SCENARIOS, type GenerateOptions, type Scenario } from '../activities/telemetry-scenarios';

interface CliOptions extends GenerateOptions {
  mode: 'new' | 'replace' | 'append';
}

function parseArgs(argv: string[]): CliOptions {
  const opts: CliOptions = { scenario: 'no_spike', rows: 100_000, mode: 'new' };
  const number = (flag: string, raw: string | undefined): number => {
    const value = Number(raw);
    if (raw === undefined || !Number.isFinite(value) || value < 0)
      throw new Error(`${flag} needs a number, got ${raw}`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--scenario') {
      const name = argv[++i];
      if (!(SCENARIOS as readonly string[]).includes(name))
        throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}; got ${name}`);
      opts.scenario = name as Scenario;
    } else if (flag === '--rows') opts.rows = Math.round(number(flag, argv[++i]));
    else if (flag === '--tool-rows') opts.toolRows = Math.round(number(flag, argv[++i]));
    else if (flag === '--spike-hours') opts.spikeHours = number(flag, argv[++i]);
    else if (flag === '--seed') opts.seed = number(flag, argv[++i]);
    else if (flag === '--now') {
      const now = new Date(argv[++i] ?? '');
      if (Number.isNaN(now.getTime())) throw new Error(`--now needs an ISO time, got ${argv[i]}`);
      opts.now = now;
    } else if (flag === '--replace') opts.mode = 'replace';
    else if (flag === '--append') opts.mode = 'append';
    else
      throw new Error(
        `unknown argument ${flag}: expected --scenario NAME, --rows N, --tool-rows N, --now ISO, --spike-hours H, --seed X, --replace, --append`,
      );
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const url = process.env.TELEMETRY_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('set TELEMETRY_DATABASE_URL or DATABASE_URL to the telemetry database');
  const { Pool: PgPool } = await import('pg');
  const { migrate } = await import('../activities/db/migrate');
  const pool = new PgPool({ connectionString: url });
  try {
    await migrate(pool, 'telemetry');
    const existing = await pool.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM (SELECT 1 FROM inference_events LIMIT 1) a) + (SELECT count(*) FROM (SELECT 1 FROM tool_calls LIMIT 1) b) AS n',
    );
    if (Number(existing.rows[0].n) > 0) {
      if (opts.mode === 'new')
        throw new Error('inference_events or tool_calls already has rows: pass --replace to truncate them or --append');
      if (opts.mode === 'replace') await pool.query('TRUNCATE inference_events, tool_calls');
    }
    const started = Date.now();
    const written = await generateTelemetry(pool, {
      ...opts,
      progress: (done, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\r[seed] ${done}/${total} hours`);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(
      `[seed] ${opts.scenario}: ${written.events} inference_events, ${written.tools} tool_calls in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await pool.end();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`[seed] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
