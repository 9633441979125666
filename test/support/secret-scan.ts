// The check that no secret value the suite used (test/support/secrets.ts) is kept anywhere the suite
// can still read after its last test: every workflow history and schedule on the dev server, every
// text, JSON, array and bytea column of every table of the suite's databases, and the output the
// test files wrote. A value is found as written or base64-encoded (at any offset); a finding names
// the secret and the place, never the value. The time-skipping servers are gone by then: not read.
import { createReadStream } from 'node:fs';
import readline from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Client as PgClient } from 'pg';
import { SECRET_MARKER, type RegisteredSecret } from './secrets';

export interface Finding {
  /** the secret's name and the test file that made it */
  secret: string;
  /** where: a workflow's event, a table's row and column, a log's line */
  where: string;
  /** as written, or base64-encoded */
  encoding: 'plain' | 'base64';
}

/** The base64 text any string containing `value` encodes to, at each of the 3 offsets (and base64url). */
export function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Set<string>();
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // Characters mixing in bytes before or after the value differ from string to string: dropped.
    const form = encoded.slice([0, 2, 3][offset], Math.floor((offset + bytes.length) / 3) * 4);
    if (form.length >= 8) {
      forms.add(form);
      forms.add(form.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms];
}

interface Needle {
  text: string;
  name: string;
  secret: string;
  encoding: Finding['encoding'];
}

/** Finds registered secrets in text: a cheap screen (the marker, or a secret without it) first. */
export class SecretMatcher {
  readonly needles: Needle[] = [];
  /** substrings one of which any text holding a secret contains */
  readonly screens: string[];

  constructor(secrets: RegisteredSecret[]) {
    const screens = new Set<string>();
    for (const s of secrets) {
      const secret = s.origin ? `${s.name} (made in ${s.origin})` : s.name;
      const forms: Needle[] = [
        { text: s.value, name: s.name, secret, encoding: 'plain' },
        ...base64Forms(s.value).map((text) => ({ text, name: s.name, secret, encoding: 'base64' as const })),
      ];
      this.needles.push(...forms);
      if (!s.value.includes(SECRET_MARKER)) for (const f of forms) screens.add(f.text);
    }
    if (secrets.some((s) => s.value.includes(SECRET_MARKER)))
      for (const f of [SECRET_MARKER, ...base64Forms(SECRET_MARKER)]) screens.add(f);
    this.screens = [...screens];
  }

  /** The secrets in `text`, once each. */
  find(text: string): { secret: string; encoding: Finding['encoding'] }[] {
    if (!this.screens.some((s) => text.includes(s))) return [];
    const found = new Map<string, Finding['encoding']>();
    for (const n of this.needles) if (!found.has(n.secret) && text.includes(n.text)) found.set(n.secret, n.encoding);
    return [...found].map(([secret, encoding]) => ({ secret, encoding }));
  }

  /** `text` with every secret in it replaced by its name: for naming a place safely. */
  redact(text: string): string {
    let out = text;
    for (const n of this.needles) out = out.split(n.text).join(`<${n.name}>`);
    return out;
  }
}

/** Every string in a decoded proto message (bytes read as UTF-8: payloads are JSON), to `visit`. */
function walk(node: unknown, visit: (text: string) => void): void {
  if (node === null || node === undefined) return;
  if (typeof node === 'string') visit(node);
  else if (node instanceof Uint8Array) visit(Buffer.from(node).toString('utf8'));
  else if (Array.isArray(node)) for (const x of node) walk(x, visit);
  else if (typeof node === 'object')
    for (const key of Object.keys(node)) walk((node as Record<string, unknown>)[key], visit);
}

function textsOf(node: unknown): string[] {
  const texts: string[] = [];
  walk(node, (t) => texts.push(t));
  return texts;
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

export interface TemporalScan {
  findings: Finding[];
  namespaces: number;
  histories: number;
  events: number;
  schedules: number;
}

/**
 * Every workflow history (each run; `query` narrows the list) and every schedule in each namespace
 * (all of the server's unless given).
 */
export async function scanTemporal(
  address: string,
  matcher: SecretMatcher,
  opts: { namespaces?: string[]; query?: string; concurrency?: number } = {},
): Promise<TemporalScan> {
  const connection = await Connection.connect({ address });
  const scan: TemporalScan = { findings: [], namespaces: 0, histories: 0, events: 0, schedules: 0 };
  const report = (texts: string[], where: string) => {
    const seen = new Set<string>();
    for (const text of texts)
      for (const f of matcher.find(text))
        if (!seen.has(f.secret)) {
          seen.add(f.secret);
          scan.findings.push({ ...f, where: matcher.redact(where) });
        }
  };
  try {
    let namespaces = opts.namespaces;
    if (!namespaces) {
      namespaces = [];
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await connection.workflowService.listNamespaces({ pageSize: 100, nextPageToken });
        for (const ns of page.namespaces ?? []) if (ns.namespaceInfo?.name) namespaces.push(ns.namespaceInfo.name);
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
    }
    for (const namespace of namespaces) {
      scan.namespaces++;
      const client = new Client({ connection, namespace });
      const runs: { workflowId: string; runId: string }[] = [];
      for await (const wf of client.workflow.list({ query: opts.query })) runs.push(wf);
      await inParallel(runs, opts.concurrency ?? 8, async ({ workflowId, runId }) => {
        const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
        scan.histories++;
        for (const event of history.events ?? []) {
          scan.events++;
          const type = temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? String(event.eventType);
          report(
            textsOf(event),
            `workflow history ${namespace}/${workflowId} run ${runId} event ${String(event.eventId)} (${type.replace(/^EVENT_TYPE_/, '')})`,
          );
        }
      });
      if (opts.query) continue;
      const schedules: string[] = [];
      for await (const s of client.schedule.list()) schedules.push(s.scheduleId);
      await inParallel(schedules, opts.concurrency ?? 8, async (id) => {
        const description = await client.schedule.getHandle(id).describe();
        scan.schedules++;
        report(textsOf(description.raw), `schedule ${namespace}/${id}`);
      });
    }
  } finally {
    await connection.close();
  }
  return scan;
}

export interface PostgresScan {
  findings: Finding[];
  databases: number;
  tables: number;
  columns: number;
}

/** Every text, varchar, char, JSON, array and bytea column of every table (all schemas but the system's). */
export async function scanPostgres(urls: string[], matcher: SecretMatcher): Promise<PostgresScan> {
  const scan: PostgresScan = { findings: [], databases: 0, tables: 0, columns: 0 };
  const patterns = matcher.screens.map((s) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  for (const url of urls) {
    const db = new PgClient({ connectionString: url });
    await db.connect();
    const database = db.database ?? new URL(url).pathname.slice(1);
    try {
      scan.databases++;
      const { rows: columns } = await db.query<{ schema: string; table: string; column: string; type: string }>(
        `SELECT c.table_schema AS schema, c.table_name AS table, c.column_name AS column, c.data_type AS type
           FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
          WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
            AND c.table_schema NOT LIKE 'pg\\_%'
            AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY', 'bytea')
          ORDER BY 1, 2, c.ordinal_position`,
      );
      const tables = new Map<string, typeof columns>();
      for (const c of columns) {
        const key = `${c.schema}.${c.table}`;
        tables.set(key, [...(tables.get(key) ?? []), c]);
      }
      for (const [name, cols] of tables) {
        scan.tables++;
        scan.columns += cols.length;
        const table = `${db.escapeIdentifier(cols[0].schema)}.${db.escapeIdentifier(cols[0].table)}`;
        const { rows: keys } = await db.query<{ column: string }>(
          `SELECT a.attname AS column FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY a.attnum`,
          [table],
        );
        const id = keys.length
          ? `concat_ws(', ', ${keys.map((k) => `${db.escapeIdentifier(k.column)}::text`).join(', ')})`
          : 'ctid::text';
        const idName = keys.length ? keys.map((k) => k.column).join(', ') : 'ctid';
        const value = (c: (typeof cols)[number]) =>
          c.type === 'bytea'
            ? `encode(${db.escapeIdentifier(c.column)}, 'escape')`
            : `${db.escapeIdentifier(c.column)}::text`;
        const { rows } = await db.query<Record<string, string | null>>(
          `SELECT ${id} AS "__id", ${cols.map((c, i) => `${value(c)} AS "c${i}"`).join(', ')} FROM ${table}
            WHERE ${cols.map((c) => `${value(c)} LIKE ANY($1::text[])`).join(' OR ')}`,
          [patterns],
        );
        for (const row of rows)
          cols.forEach((c, i) => {
            const text = row[`c${i}`];
            if (text)
              for (const f of matcher.find(text))
                scan.findings.push({
                  ...f,
                  where: matcher.redact(`table ${database}.${name} column ${c.column} row (${idName}) = (${row.__id})`),
                });
          });
      }
    } finally {
      await db.end();
    }
  }
  return scan;
}

/** A log file, line by line. */
export async function scanLog(
  file: string,
  matcher: SecretMatcher,
  label = file,
): Promise<{ findings: Finding[]; lines: number }> {
  const findings: Finding[] = [];
  let lines = 0;
  const input = readline.createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of input) {
    lines++;
    for (const f of matcher.find(line)) findings.push({ ...f, where: `${label} line ${lines}` });
  }
  return { findings, lines };
}

/** One line per finding, naming the secret and the place: never the value. */
export function describeFinding(f: Finding): string {
  return `${f.secret}${f.encoding === 'base64' ? ', base64-encoded,' : ''} in ${f.where}`;
}

/** The databases on the server of `url` that accept connections, as URLs. */
export async function databaseUrls(url: string): Promise<string[]> {
  const db = new PgClient({ connectionString: url });
  await db.connect();
  try {
    const { rows } = await db.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname',
    );
    return rows.map((r) => {
      const u = new URL(url);
      u.pathname = `/${encodeURIComponent(r.datname)}`;
      return u.toString();
    });
  } finally {
    await db.end();
  }
}

/**
 * After the last test file: the secrets recorded in `secrets`, looked for on the dev server, in the
 * databases and in the output. Returns the lines to print; `findings` empty when nothing leaked.
 */
export async function scanSuite(opts: {
  temporalAddress: string;
  databases: string[];
  logs: { file: string; label: string }[];
  secrets: RegisteredSecret[];
}): Promise<{ findings: Finding[]; summary: string }> {
  const started = Date.now();
  const matcher = new SecretMatcher(opts.secrets);
  const [temporalScan, pg, ...logs] = await Promise.all([
    scanTemporal(opts.temporalAddress, matcher),
    scanPostgres(opts.databases, matcher),
    ...opts.logs.map((l) => scanLog(l.file, matcher, l.label)),
  ]);
  const findings = [...temporalScan.findings, ...pg.findings, ...logs.flatMap((l) => l.findings)];
  const summary =
    `${opts.secrets.length} secret values in ${temporalScan.histories} workflow histories ` +
    `(${temporalScan.events} events, ${temporalScan.namespaces} namespaces), ${temporalScan.schedules} schedules, ` +
    `${pg.tables} tables (${pg.columns} columns) in ${pg.databases} databases, ` +
    `${logs.reduce((n, l) => n + l.lines, 0)} lines of output: ` +
    `${findings.length === 0 ? 'none found' : `${findings.length} found`} (${Date.now() - started} ms)`;
  return { findings, summary };
}
