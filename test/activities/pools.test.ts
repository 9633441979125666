// A Postgres connection that ends under the worker (a restarted server, a dropped database) is an
// error for the query that meets it, never an uncaught exception that ends the worker.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Pool } from 'pg';
import { survivesDisconnects } from '../../activities/db/pools';
import { requireEnv } from '../support/harness';

async function droppedUnder(pool: (url: string) => Pool): Promise<{ uncaught: unknown[]; queryError?: Error }> {
  const admin = new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 1 });
  const name = `pools_${randomUUID().slice(0, 8)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(requireEnv('DATABASE_URL'));
  url.pathname = `/${name}`;
  const p = pool(url.toString());
  const uncaught: unknown[] = [];
  const catcher = (err: unknown) => uncaught.push(err);
  // The test runner's own handler would fail the file: this test counts them instead.
  const runners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', catcher);
  try {
    const held = await p.connect(); // checked out, as during a query of an activity
    await p.query('SELECT 1'); // and one idle in the pool
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await new Promise((r) => setTimeout(r, 300));
    const queryError = await held.query('SELECT 1').then(
      () => undefined,
      (err: Error) => err,
    );
    held.release(true);
    return { uncaught, queryError };
  } finally {
    process.off('uncaughtException', catcher);
    for (const l of runners) process.on('uncaughtException', l);
    await p.end().catch(() => undefined);
    await admin.end();
  }
}

test('a dropped database: the held client reports it to its next query, nothing is uncaught', async () => {
  const { uncaught, queryError } = await droppedUnder((url) =>
    survivesDisconnects(new Pool({ connectionString: url })),
  );
  assert.deepEqual(uncaught, []);
  assert.ok(queryError, 'the next query on the ended connection fails');
});

test('without it, the same drop is an uncaught exception (what crashed the worker)', async () => {
  const { uncaught } = await droppedUnder((url) => {
    const p = new Pool({ connectionString: url });
    p.on('error', () => undefined); // idle clients only, as the pools had it
    return p;
  });
  assert.ok(uncaught.length > 0);
});
