// The LLM app's database as the seed (003) knows it, and no more: inference_events, tool_calls and
// feature_flags with only the seed's columns (an `id` only when asked for), and a role that may
// SELECT the events, read and write feature_flags, and nothing else: no CREATE on the schema, no
// temporary tables. The runbook reaches the app as that role; the test writes as the app does.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { generateTelemetry, type Scenario } from '../../activities/telemetry-scenarios';
import { requireEnv } from './harness';
import { secret } from './secrets';

export interface SeedApp {
  /** The app's own writer (the database's owner). */
  owner: Pool;
  /** The URL of the runbook's read-only role. */
  readerUrl: string;
  /** 30 days of a scenario ending at `now`, with only the seed's columns kept. */
  generate(scenario: Scenario, rows: number, now: Date): Promise<void>;
  drop(): Promise<void>;
}

const MIGRATION_001 = path.join(
  __dirname,
  '..',
  '..',
  'activities',
  'db',
  'migrations',
  'telemetry',
  '001_llm_telemetry.sql',
);

export async function createSeedApp(opts: { id?: boolean } = {}): Promise<SeedApp> {
  const tag = randomUUID().slice(0, 8);
  const name = `seedapp_${tag}`;
  const role = `seedapp_reader_${tag}`;
  const password = secret('app database reader password');
  const admin = new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  // CONNECT only for whom it is granted, and no TEMP for anyone.
  await admin.query(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC`);
  const url = new URL(requireEnv('DATABASE_URL'));
  url.pathname = `/${name}`;
  const owner = new Pool({ connectionString: url.toString(), max: 4 });
  owner.on('error', () => undefined);
  const id = opts.id ? 'id bigserial PRIMARY KEY,' : '';
  await owner.query(`
    CREATE TABLE inference_events (${id} created_at timestamptz NOT NULL DEFAULT now(), user_id text, feature text,
      trigger_type text, input_tokens integer, output_tokens integer, cost_usd numeric(12, 6));
    CREATE INDEX inference_events_at ON inference_events (created_at);
    CREATE TABLE tool_calls (${id} created_at timestamptz NOT NULL DEFAULT now(), tool_name text, success boolean,
      retries integer);
    CREATE INDEX tool_calls_at ON tool_calls (created_at);
    CREATE TABLE feature_flags (feature text PRIMARY KEY, enabled boolean NOT NULL DEFAULT false);
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;`);
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' NOSUPERUSER NOCREATEDB NOCREATEROLE`);
  await admin.query(`GRANT CONNECT ON DATABASE ${name} TO ${role}`);
  await owner.query(`
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON inference_events, tool_calls TO ${role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON feature_flags TO ${role};`);
  const reader = new URL(url);
  reader.username = role;
  reader.password = password;
  return {
    owner,
    readerUrl: reader.toString(),
    async generate(scenario, rows, now) {
      // The generator writes the project's fuller tables: it fills a scratch schema, whose seed
      // columns are then copied into the app's tables.
      await owner.query('DROP SCHEMA IF EXISTS staging CASCADE; CREATE SCHEMA staging');
      const staging = new Pool({ connectionString: url.toString(), max: 1, options: '-c search_path=staging' });
      try {
        await staging.query(readFileSync(MIGRATION_001, 'utf8'));
        // Every day weighted alike: the spike must not depend on the weekday the suite runs.
        await generateTelemetry(staging, { scenario, rows, now, weekend: 1 });
      } finally {
        await staging.end();
      }
      await owner.query(`
        TRUNCATE inference_events, tool_calls;
        INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd)
        SELECT created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd FROM staging.inference_events;
        INSERT INTO tool_calls (created_at, tool_name, success, retries)
        SELECT created_at, tool_name, success, retries FROM staging.tool_calls;
        DROP SCHEMA staging CASCADE;
        ANALYZE inference_events, tool_calls;`);
    },
    async drop() {
      await owner.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    },
  };
}
