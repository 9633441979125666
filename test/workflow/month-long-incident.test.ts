// An LLM provider incident that stays down for 30 days, on the time-skipping test server: the
// recovery check fails a window every day, and the incident continues as new before its history
// grows past what Temporal keeps, carrying its state: the page still waiting, the mitigations it
// applied (undone once the provider recovers), its timeline and findings.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { parseConfig } from '../../config/load';
import { ensureSearchAttributes } from '../../client/search-attributes';
import { testServerExecutable } from '../../dev/temporal-binaries';
import { stateQuery, type RunbookResult } from '../../workflows/definitions';
import { AnthropicStandIn } from '../support/anthropic-standin';
import { requireEnv, startTestServerWorker } from '../support/harness';

const DAY = 86_400_000;
// Low, so that 30 windows take several runs; the default is 4,000 events.
const LIMIT = 200;
const anthropic = new AnthropicStandIn();
let env: TestWorkflowEnvironment;
let pool: Pool;

before(async () => {
  await anthropic.listen();
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: await testServerExecutable() } });
  await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
  pool = new Pool({ connectionString: requireEnv('DATABASE_URL') });
});

after(async () => {
  await env?.teardown();
  await pool?.end();
  await anthropic.close();
});

/** Every run of a workflow, first to last, following each run's link to the one it continued. */
async function runsOf(client: Client, workflowId: string) {
  const runs = [];
  let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.unshift({ runId, events: history.events?.length ?? 0 });
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return runs;
}

test('a provider down for 30 days: each run stays under 10,000 events, the incident carries on and ends resolved', async () => {
  const config = parseConfig(
    {
      approvals: { preApproved: ['fallback-mode', 'provider-circuit-breaker'] },
      runbooks: {
        'llm-provider-incident': {
          params: {
            probeRequests: 1,
            serverErrorRetries: 1,
            serverErrorBackoff: '1m',
            recoveryInterval: '24h',
            historyEventLimit: LIMIT,
            recoveryWindow: '1h',
            // Nobody acknowledges: the page waits across runs without re-paging.
            p1AckWithin: '60d',
            approvalDeadline: '60d',
            followUpAfter: '1d',
          },
        },
      },
    },
    'test config',
    {},
  );
  const workerEnv = {
    PATH: process.env.PATH,
    ANTHROPIC_API_KEY: anthropic.apiKey,
    ANTHROPIC_BASE_URL: anthropic.url,
    DECISION_SIGNING_KEY: 'month-long-signing-key',
  };
  const worker = await startTestServerWorker(env, config, pool, workerEnv);
  anthropic.mode = 500;
  // One test request to classify, one connectivity test, one retry, then one per window (every 24h):
  // the provider answers again after 30 days of failed windows.
  const failing = 3 + 30;
  const recover = setInterval(() => {
    if (anthropic.requests.length >= failing) anthropic.mode = 'ok';
  }, 5);
  try {
    const key = `month-${randomUUID().slice(0, 6)}`;
    const started = await worker.incidents.start({
      runbook: 'llm-provider-incident',
      key,
      service: 'api',
      environment: 'prod',
      source: 'manual',
      startedBy: 'test',
    });
    const handle = env.client.workflow.getHandle(started.workflowId);
    const result = (await handle.result()) as RunbookResult;
    assert.equal(result.status, 'resolved', result.resolution);

    const runs = await runsOf(env.client as Client, started.workflowId);
    assert.ok(runs.length >= 3, `continued as new: ${runs.length} runs`);
    for (const r of runs) assert.ok(r.events < 10_000, `run ${r.runId}: ${r.events} events`);
    assert.equal(runs[0].runId, started.runId);

    const s = await handle.query(stateQuery);
    assert.equal(s.incidentId, `${started.workflowId}@${started.runId}`, 'the incident keeps its id');
    const days = (Date.parse(s.steps.find((x) => x.id === 'postmortem')!.finishedAt!) - Date.parse(s.startedAt)) / DAY;
    assert.ok(days >= 30, `open for ${days} days`);
    assert.equal(s.steps.find((x) => x.id === 'classify-severity')?.status, 'done');
    assert.match(s.steps.find((x) => x.id === 'recovery-check')!.note!, /held/);
    assert.match(s.steps.find((x) => x.id === 'acknowledge')!.note!, /nobody acknowledged/);
    // What the first run applied, the last run undid: the ledger keys both by the incident's first run.
    assert.deepEqual(
      s.mitigations.map((m) => [m.step, m.status]),
      [
        ['fallback-mode', 'undone'],
        ['provider-circuit-breaker', 'undone'],
      ],
    );
    const ledger = await pool.query(
      'SELECT step, phase, run_id, outcome FROM mitigation_runs WHERE workflow_id = $1 ORDER BY step, phase',
      [started.workflowId],
    );
    assert.equal(ledger.rows.length, 4);
    assert.ok(ledger.rows.every((r) => r.run_id === started.runId && r.outcome === 'succeeded'));
    const records = await pool.query('SELECT run_id, status FROM incidents WHERE workflow_id = $1', [
      started.workflowId,
    ]);
    assert.deepEqual(records.rows, [{ run_id: started.runId, status: 'resolved' }], 'one record for the incident');
    // One page for the P1, not one per run.
    const timeline = await pool.query('SELECT kind FROM incident_events WHERE workflow_id = $1', [started.workflowId]);
    const kinds = timeline.rows.map((r) => r.kind as string);
    assert.equal(kinds.filter((k) => k === 'continued').length, runs.length - 1);
    assert.equal(kinds.filter((k) => k === 'started').length, 1);
    assert.equal(kinds.filter((k) => k === 'approval_requested').length, 1, 'the page asked once');
  } finally {
    clearInterval(recover);
    await worker.stop();
  }
});
