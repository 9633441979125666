// Maintenance diagnostics of the log and backup runbooks: log directories against their size,
// rotation and retention limits; the age of the newest dump; and a restore of that dump into a
// scratch database, which is the only proof a backup is usable. Each answers in the document's
// terms (an output the expectation is compared with, and the detail behind it).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { Pool } from 'pg';
import { survivesDisconnects } from './db/pools';
import type { Deps } from './deps';
import { observe, type Observed } from './http';

export interface CheckOutput {
  output: string;
  detail: string;
}

const MB = 1024 * 1024;
const DAY = 86_400_000;

interface FileInfo {
  file: string;
  size: number;
  mtimeMs: number;
}

async function filesUnder(dir: string): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(file)));
    else if (entry.isFile()) {
      const s = await stat(file);
      out.push({ file, size: s.size, mtimeMs: s.mtimeMs });
    }
  }
  return out;
}

async function newestBackup(dir: string, suffix: string): Promise<FileInfo> {
  const files = (await filesUnder(dir)).filter((f) => f.file.endsWith(suffix));
  const newest = files.sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
  if (!newest) throw new Error(`no ${suffix} files in ${dir}`);
  return newest;
}

/** Inside an activity, tells Temporal the worker is alive; outside one (a unit test), nothing. */
function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // not running as an activity
  }
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const beat = setInterval(heartbeat, 5_000);
    child.on('error', (err) => {
      clearInterval(beat);
      reject(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new Error(`${program} not found on the worker's PATH (Debian: postgresql-client)`)
          : err,
      );
    });
    child.on('close', (code) => {
      clearInterval(beat);
      if (code === 0) resolve();
      else reject(new Error(`${program} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/** The scratch server's address, for pg and (as libpq's environment, no password in `ps`) pg_restore. */
function server(url: URL) {
  return {
    host: url.hostname || 'localhost',
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username) || process.env.USER || 'postgres',
    password: decodeURIComponent(url.password),
  };
}

function libpqEnv(url: URL, database: string): NodeJS.ProcessEnv {
  const s = server(url);
  return {
    PATH: process.env.PATH,
    PGHOST: s.host,
    PGPORT: String(s.port),
    PGUSER: s.user,
    PGPASSWORD: s.password,
    PGDATABASE: database,
  };
}

export function createMaintenanceActivities({ config }: Deps) {
  const { logs, backups } = config.dataSources;
  return {
    async logFiles(): Promise<Observed<CheckOutput>> {
      if (logs.directories.length === 0)
        return { available: false, reason: 'no log directories configured (dataSources.logs.directories)' };
      return observe(async () => {
        const now = Date.now();
        const broken: string[] = [];
        const seen: string[] = [];
        for (const dir of logs.directories) {
          const files = await filesUnder(dir);
          const total = files.reduce((sum, f) => sum + f.size, 0);
          seen.push(`${dir}: ${files.length} files, ${(total / MB).toFixed(1)} MB`);
          if (total > logs.maxTotalMb * MB)
            broken.push(`size: ${dir} holds ${(total / MB).toFixed(0)} MB (budget ${logs.maxTotalMb} MB)`);
          for (const f of files) {
            if (f.size > logs.maxFileMb * MB)
              broken.push(`rotation: ${f.file} is ${(f.size / MB).toFixed(0)} MB (max ${logs.maxFileMb} MB)`);
            const age = (now - f.mtimeMs) / DAY;
            if (age > logs.retentionDays)
              broken.push(`retention: ${f.file} last written ${age.toFixed(0)} days ago (keep ${logs.retentionDays})`);
          }
        }
        return { output: String(broken.length), detail: [...broken, ...seen].join('; ') };
      }, logs.directories.join(', '));
    },

    async backupAge(): Promise<Observed<CheckOutput>> {
      const dir = backups.directory;
      if (!dir) return { available: false, reason: 'no backup directory configured (dataSources.backups.directory)' };
      return observe(async () => {
        const newest = await newestBackup(dir, backups.suffix);
        const hours = (Date.now() - newest.mtimeMs) / 3_600_000;
        return {
          output: hours.toFixed(1),
          detail: `${newest.file}: ${(newest.size / MB).toFixed(1)} MB, written ${new Date(newest.mtimeMs).toISOString()}`,
        };
      }, dir);
    },

    /** pg_restore of the newest dump into a database of its own on the scratch server, dropped afterwards. */
    async restoreCheck(): Promise<Observed<CheckOutput>> {
      const dir = backups.directory;
      if (!dir) return { available: false, reason: 'no backup directory configured (dataSources.backups.directory)' };
      const scratch = backups.scratchDatabaseUrl;
      if (!scratch)
        return {
          available: false,
          reason: 'no scratch database server configured (RESTORE_CHECK_DATABASE_URL, dataSources.backups)',
        };
      return observe(async () => {
        const newest = await newestBackup(dir, backups.suffix);
        const url = new URL(scratch);
        const database = `restore_check_${Date.now()}_${randomBytes(3).toString('hex')}`;
        const admin = survivesDisconnects(new Pool({ connectionString: scratch, max: 1 }));
        const started = Date.now();
        try {
          await admin.query(`CREATE DATABASE "${database}"`);
          try {
            await run(
              'pg_restore',
              ['--no-owner', '--no-acl', '--exit-on-error', `--dbname=${database}`, newest.file],
              libpqEnv(url, database),
            );
            const restored = survivesDisconnects(new Pool({ ...server(url), database, max: 1 }));
            try {
              const events = await restored.query<{ n: string; latest: Date | null }>(
                'SELECT count(*) AS n, max(created_at) AS latest FROM inference_events',
              );
              const flags = await restored.query<{ n: string }>('SELECT count(*) AS n FROM feature_flags');
              const { n, latest } = events.rows[0];
              return {
                output: n,
                detail: `${newest.file} restored in ${((Date.now() - started) / 1000).toFixed(1)} s: ${n} inference_events (newest ${latest ? latest.toISOString() : 'none'}), ${flags.rows[0].n} feature_flags`,
              };
            } finally {
              await restored.end();
            }
          } finally {
            await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
          }
        } finally {
          await admin.end();
        }
      }, `pg_restore of the newest ${backups.suffix} in ${dir}`);
    },
  };
}
