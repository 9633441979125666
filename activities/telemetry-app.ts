// What the LLM app's database holds, read from its catalog. The runbook assumes only the seed's
// tables and columns; it uses more (an indexed `id`, `user_agent`, `model`, flag values) only
// where the app has them, and says which column is missing otherwise.
import type { Pool, PoolClient } from 'pg';

export type AppTableName = 'inference_events' | 'tool_calls' | 'feature_flags';

export interface AppTable {
  columns: Set<string>;
  /** An integer `id` leading an index: a cheap watermark for rows inserted since the last pass. */
  indexedId: boolean;
}

type Queryable = Pick<Pool, 'query'> | PoolClient;

/** The table as the session's search_path finds it; undefined when there is none. */
export async function appTable(db: Queryable, table: AppTableName): Promise<AppTable | undefined> {
  const { rows } = await db.query<{ name: string; type: string; leads_index: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum) AS leads_index
     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [table],
  );
  if (rows.length === 0) return undefined;
  const id = rows.find((r) => r.name === 'id');
  return {
    columns: new Set(rows.map((r) => r.name)),
    indexedId: !!id && ['integer', 'bigint', 'smallint'].includes(id.type) && id.leads_index,
  };
}

/** Why extra evidence cannot be had: the first of `columns` the app's table lacks, else undefined. */
export async function missingColumn(
  db: Queryable,
  table: AppTableName,
  columns: string[],
): Promise<string | undefined> {
  const found = await appTable(db, table);
  if (!found) return `table ${table} not in the app's database`;
  const missing = columns.find((c) => !found.columns.has(c));
  return missing ? `column ${missing} not in the app's ${table}` : undefined;
}

/**
 * The app database a pool reaches, as host:port/database (no credentials): the key its rollups
 * are kept under, the same for every role that reaches it.
 */
export function telemetrySource(pool: Pool): string {
  const options = pool.options;
  const url = options.connectionString ? new URL(options.connectionString) : undefined;
  const host = url?.searchParams.get('host') || url?.hostname || options.host || process.env.PGHOST || 'localhost';
  const port = url?.port || options.port || process.env.PGPORT || 5432;
  const database =
    (url && decodeURIComponent(url.pathname.slice(1))) || options.database || process.env.PGDATABASE || '';
  return `${host}:${port}/${database}`;
}
