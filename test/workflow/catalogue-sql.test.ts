// A catalogue document's `check sql` reads and cannot write: one statement, in a read-only
// transaction, whatever the document says. On real Postgres.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createCatalogueActivities } from '../../activities/catalogue';
import { parseConfig } from '../../config/load';
import { testDeps } from '../support/harness';
import { createTelemetryDatabase } from '../support/llm-app';

let db: Awaited<ReturnType<typeof createTelemetryDatabase>>;
before(async () => {
  db = await createTelemetryDatabase();
  await db.pool.query("INSERT INTO feature_flags (feature, enabled) VALUES ('chat', true)");
});
after(() => db?.drop());

test('a check that tries to commit and write is refused, and nothing changes', async () => {
  const { catalogueCheck } = createCatalogueActivities(testDeps(parseConfig({}), db.pool, {}));
  const count = async () => Number((await db.pool.query('SELECT count(*) AS n FROM feature_flags')).rows[0].n);
  for (const body of [
    'SELECT 1; COMMIT; DELETE FROM feature_flags',
    'COMMIT; DELETE FROM feature_flags',
    'WITH gone AS (DELETE FROM feature_flags RETURNING 1) SELECT count(*) FROM gone',
  ]) {
    const r = await catalogueCheck({ kind: 'sql', body, vars: {} });
    assert.equal(r.available, false, `${body}: ${JSON.stringify(r)}`);
    assert.equal(await count(), 1, `${body} changed nothing`);
  }
  const ok = await catalogueCheck({ kind: 'sql', body: 'SELECT count(*) FROM feature_flags', vars: {} });
  assert.deepEqual(ok.available && ok.data.output, '1');
});
