// Every catalogue document walked through on the local Temporal server: manual steps decided
// through the update, checks really run (SQL on Postgres, HTTP on a local service; PromQL finds no
// Prometheus here and says so), actions approved and, with no command configured, confirmed by hand,
// and the incident closed by a responder: resolved by its confirming checks, or by hand.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { confirmingSteps } from '../../catalogue/document';
import { CATALOGUE_DIR, loadDocument } from '../../catalogue/load';
import { stateQuery, type RunbookId, type RunbookResult } from '../../workflows/definitions';
import { createHarness, eventually, type Harness } from '../support/harness';

const IDS = readdirSync(CATALOGUE_DIR)
  .filter((f) => f.endsWith('.md'))
  .map((f) => f.replace(/\.md$/, '') as RunbookId);

describe('catalogue runbooks, each walked from its document', () => {
  let h: Harness;
  const api = http.createServer((_req, res) => {
    res.writeHead(200);
    res.end('ok');
  });

  before(async () => {
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    const params = { vars: { apiUrl }, stepDeadline: '1h', followUpAfter: '1h' };
    h = await createHarness('catalogue', {
      runbooks: Object.fromEntries(IDS.map((id) => [id, { params }])),
    });
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    api.closeAllConnections();
    await new Promise((r) => api.close(r));
  });

  for (const id of IDS) {
    test(id, async () => {
      const doc = loadDocument(id);
      const started = await h.incidents.start({
        runbook: id,
        service: 'api',
        environment: 'prod',
        source: 'manual',
        startedBy: 'test',
      });
      const handle = h.client.workflow.getHandle<(i: unknown) => Promise<RunbookResult>>(started.workflowId);
      let finished = false;
      const result = handle.result().finally(() => (finished = true));
      // Answer whatever the runbook waits for, in order, until it ends.
      await eventually(
        `${id} to finish`,
        async () => {
          if (finished) return true;
          const s = await handle.query(stateQuery);
          for (const p of s.pendingApprovals)
            await h.incidents
              .decide(handle.workflowId, {
                step: p.step,
                decision: p.kind === 'approval' ? 'approve' : 'done',
                by: 'alice',
                comment: `walked by the test`,
              })
              .catch(() => undefined);
          return undefined;
        },
        120_000,
      );
      // Walked to the end and closed done by a responder: resolved, by its checks or by hand.
      const { status, resolution } = await result;
      assert.equal(status, 'resolved');
      const end = await handle.query(stateQuery);
      assert.deepEqual(
        end.steps.map((s) => s.id),
        [...doc.steps.map((s) => s.id), 'close-incident'],
      );
      const outcome = { info: 'done', warning: 'failed', unavailable: 'unavailable', critical: 'failed' } as const;
      for (const step of doc.steps) {
        const s = end.steps.find((x) => x.id === step.id);
        if (step.kind === 'check' || step.kind === 'diagnostic') {
          const f = end.findings.find((x) => x.step === step.id);
          assert.ok(f, `${id}/${step.id} recorded its output`);
          // One outcome per step: as expected is done, not as expected failed, not read unavailable.
          assert.equal(s?.status, outcome[f.level], `${id}/${step.id}: ${s?.status} ${s?.note ?? ''} (${f.summary})`);
          // SQL, HTTP and dependency checks run here; Prometheus and status pages are not configured.
          if (f.level === 'unavailable')
            assert.match(f.summary, /(not|no \w+( \w+)?) configured/, `${id}/${step.id}: ${f.summary}`);
          continue;
        }
        assert.equal(s?.status, 'done', `${id}/${step.id}: ${s?.status} ${s?.note ?? ''}`);
        // A hand-over ran the other runbook as a child incident to its end (no spike in this data).
        if (step.kind === 'runbook') assert.match(s?.note ?? '', new RegExp(`^${step.runbook}: resolved`));
      }
      const confirming = confirmingSteps(doc);
      const byChecks =
        confirming.length > 0 && confirming.every((c) => end.steps.find((x) => x.id === c.id)?.status === 'done');
      assert.match(
        resolution,
        byChecks ? /^confirmed by its checks: .*; closed by alice$/ : /^confirmed by hand by alice; /,
      );
      const close = end.steps.find((x) => x.id === 'close-incident');
      assert.equal(close?.status, 'done');
      assert.deepEqual(
        close?.decisions?.map((d) => [d.decision, d.by, d.comment]),
        [['done', 'alice', 'walked by the test']],
      );
    });
  }
});
