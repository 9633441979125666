// A catalogue document's `check sql` reads and cannot write: one statement, in a read-only
// transaction, whatever the document says. On real Postgres.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createCatalogueActivities } from '../../activities/catalogue';
import type { RunbookDocument } from '../../catalogue/document';
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
  // The worker's own document, as if it held these (the parser itself refuses all but the last).
  let body = '';
  const documents = (): RunbookDocument => ({
    title: 'Test',
    overview: '',
    symptoms: [],
    prevention: [],
    escalation: [],
    steps: [
      {
        id: 'count',
        section: 'Immediate Actions',
        title: 'Count',
        kind: 'check',
        check: { kind: 'sql', body },
        line: 1,
      },
    ],
  });
  const { documentCheck } = createCatalogueActivities({ ...testDeps(parseConfig({}), db.pool, {}), documents });
  const check = (sql: string) => {
    body = sql;
    return documentCheck({ runbook: 'service-down', step: 'count', vars: {} });
  };
  const count = async () => Number((await db.pool.query('SELECT count(*) AS n FROM feature_flags')).rows[0].n);
  for (const sql of [
    'SELECT 1; COMMIT; DELETE FROM feature_flags',
    'COMMIT; DELETE FROM feature_flags',
    'WITH gone AS (DELETE FROM feature_flags RETURNING 1) SELECT count(*) FROM gone',
  ]) {
    const r = await check(sql);
    assert.equal(r.available, false, `${sql}: ${JSON.stringify(r)}`);
    assert.equal(await count(), 1, `${sql} changed nothing`);
  }
  const ok = await check('SELECT count(*) FROM feature_flags');
  assert.deepEqual(ok.available && ok.data.output, '1');
});
