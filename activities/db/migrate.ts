// Applies the .sql files of a migration set in name order, each once, under an advisory lock so
// a worker and a gateway starting together do not race.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';

export type MigrationSet = 'store' | 'telemetry';

const LOCK_ID = 724_311_002;

export async function migrate(pool: Pool, set: MigrationSet): Promise<string[]> {
  const dir = path.join(__dirname, 'migrations', set);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (set_name text NOT NULL, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (set_name, name))',
    );
    const done = new Set(
      (await client.query<{ name: string }>('SELECT name FROM schema_migrations WHERE set_name = $1', [set])).rows.map(
        (r) => r.name,
      ),
    );
    for (const file of files) {
      if (done.has(file)) continue;
      await client.query('BEGIN');
      try {
        await client.query(readFileSync(path.join(dir, file), 'utf8'));
        await client.query('INSERT INTO schema_migrations (set_name, name) VALUES ($1, $2)', [set, file]);
        await client.query('COMMIT');
        applied.push(file);
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${set}/${file} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    client.release();
  }
  return applied;
}

/** The store's tables, and the telemetry tables when telemetry shares the store's database. */
export async function migrateAll(store: Pool, telemetry: Pool, telemetryIsStore: boolean): Promise<void> {
  await migrate(store, 'store');
  if (telemetryIsStore) await migrate(telemetry, 'telemetry');
}
