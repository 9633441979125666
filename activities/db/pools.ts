import { Pool } from 'pg';

export interface Pools {
  store: Pool;
  telemetry: Pool;
  telemetryIsStore: boolean;
  end(): Promise<void>;
}

/**
 * A connection that ends (a restarted server, a dropped database) must not crash the process: the
 * pool's idle clients and the ones checked out both report it to the query that meets it instead.
 */
export function survivesDisconnects(pool: Pool): Pool {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** The incident store at DATABASE_URL; telemetry at TELEMETRY_DATABASE_URL, else the same database. */
export function createPools(env: NodeJS.ProcessEnv = process.env): Pools {
  const url = env.DATABASE_URL;
  if (!url)
    throw new Error(
      'DATABASE_URL is not set: it names the incident store (npm start sets it for the embedded Postgres)',
    );
  // No query may hang an activity: the server ends a statement after a minute.
  const limits = { connectionTimeoutMillis: 5_000, statement_timeout: 60_000 };
  const store = new Pool({ connectionString: url, max: 10, ...limits });
  const telemetryUrl = env.TELEMETRY_DATABASE_URL;
  const telemetryIsStore = !telemetryUrl || telemetryUrl === url;
  const telemetry = telemetryIsStore ? store : new Pool({ connectionString: telemetryUrl, max: 5, ...limits });
  survivesDisconnects(store);
  if (!telemetryIsStore) survivesDisconnects(telemetry);
  return {
    store,
    telemetry,
    telemetryIsStore,
    async end() {
      await store.end();
      if (!telemetryIsStore) await telemetry.end();
    },
  };
}

/** Pools for drills' scratch databases on `server`'s Postgres (the store's), opened on first use. */
export interface DrillPools {
  get(database: string): Pool;
  release(database: string): Promise<void>;
}

const DRILL_DATABASE = /^drill_[a-z0-9_]{1,50}$/;

export function drillPools(server: Pool): DrillPools {
  const pools = new Map<string, Pool>();
  return {
    get(database) {
      // Only a drill's own database: a workflow input cannot point the reads anywhere else.
      if (!DRILL_DATABASE.test(database)) throw new Error(`"${database}" is not a drill database (drill_*)`);
      let pool = pools.get(database);
      if (!pool) {
        const { connectionString, ...rest } = server.options;
        const url = connectionString ? new URL(connectionString) : undefined;
        if (url) url.pathname = `/${database}`;
        pool = survivesDisconnects(
          new Pool({ ...rest, ...(url ? { connectionString: url.toString() } : { database }), max: 2 }),
        );
        pools.set(database, pool);
      }
      return pool;
    },
    async release(database) {
      await pools.get(database)?.end();
      pools.delete(database);
    },
  };
}
