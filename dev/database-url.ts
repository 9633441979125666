// Where this project's own Postgres is when no one says: `npm start` writes the URL of the embedded
// Postgres it started into the data folder, so `npm run seed:telemetry` (and anyone else) can find
// it without being told; with nothing running, the embedded defaults in dev/postgres.ts apply.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './temporal-binaries';

export const DATA_DIR = process.env.RUNBOOKS_DATA_DIR ?? path.join(PROJECT_ROOT, '.data');
/** The embedded Postgres' folder and database, as `npm start` uses them. */
export const EMBEDDED_POSTGRES_DIR = path.join(DATA_DIR, 'postgres');
export const EMBEDDED_DATABASE = 'runbooks';
export const URL_FILE = path.join(DATA_DIR, 'database-url');

export function writeDatabaseUrl(url: string): void {
  writeFileSync(URL_FILE, `${url}\n`, { mode: 0o600 });
}

export function forgetDatabaseUrl(): void {
  rmSync(URL_FILE, { force: true });
}

/** The URL the running `npm start` wrote, if any. */
export function writtenDatabaseUrl(): string | undefined {
  try {
    return readFileSync(URL_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
