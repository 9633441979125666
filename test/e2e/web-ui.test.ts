// The Temporal Web UI as a responder sees it: headless Chromium finds an incident by its search
// attributes, opens it, and reads the one-line summary, the live checklist with the pending
// approval, and the activity summaries. The suite's shared dev server has no UI, so this file
// starts its own, with the UI, and points a worker and client at it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../dev/postgres';
import { PROJECT_ROOT, startDevServer } from '../../dev/temporal-binaries';
import { Incidents } from '../../client/incidents';
import { SEARCH_ATTRIBUTES, stateQuery, type AlertEvent, type IncidentState } from '../../workflows/definitions';
import { createHarness, eventually, type Harness } from '../support/harness';
import { SERVICE, World } from '../support/scenario';
import { CHROMIUM, findBinary, needs, PROMETHEUS } from '../support/system';

const skip = needs(PROMETHEUS, CHROMIUM);
const ARTIFACTS = path.join(PROJECT_ROOT, 'test-results');
// The UI is a SvelteKit app that loads and polls client-side: wait on what it renders, generously.
const UI_TIMEOUT = 30_000;

describe('the Temporal Web UI as a person sees it', { skip, timeout: 120_000 }, () => {
  let server: TestWorkflowEnvironment;
  let world: World;
  let h: Harness;
  let browser: Browser;
  let ui: string;
  const sharedAddress = process.env.TEMPORAL_ADDRESS;

  before(async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    ui = `http://127.0.0.1:${uiPort}`;
    [server, world, browser] = await Promise.all([
      startDevServer({ port, uiPort, searchAttributes: SEARCH_ATTRIBUTES }).then((s) => s.env),
      new World().start(),
      chromium.launch({
        executablePath: findBinary(CHROMIUM.binary),
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
    ]);
    // createHarness reads TEMPORAL_ADDRESS when called; this file's worker and client belong on the UI's server.
    process.env.TEMPORAL_ADDRESS = server.connection.options.address;
    // A rollback with a command configured: an approval (a step without one is a manual question).
    const config = world.config({
      actions: { 'rollback-deploy': { run: [process.execPath, '-e', 'process.exit(0)'] } },
    });
    h = await createHarness('webui', config, world.env());
    await h.startWorker();
    // The UI process may come up a moment after the frontend answers.
    await eventually('the Web UI to answer', async () => ((await fetch(ui)).ok ? true : undefined));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await h?.close().catch(() => undefined);
    await world?.stop().catch(() => undefined);
    await server?.teardown().catch(() => undefined);
    process.env.TEMPORAL_ADDRESS = sharedAddress;
  });

  function alert(environment: string): AlertEvent {
    return {
      key: `fp-${environment}`,
      status: 'firing',
      alertname: 'ApiErrorRate',
      labels: { alertname: 'ApiErrorRate', service: SERVICE, environment },
      annotations: {},
      startsAt: new Date(Date.now() - 60_000).toISOString(),
    };
  }

  async function open(environment: string, incidents = h.incidents) {
    const started = await incidents.start({
      runbook: 'api-error-budget',
      key: environment,
      service: SERVICE,
      environment,
      alert: alert(environment),
      source: 'alertmanager',
      startedBy: 'test',
      params: {},
    });
    return h.client.workflow.getHandle(started.workflowId);
  }

  async function screenshot(page: Page, name: string): Promise<string> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${file}`);
    return file;
  }

  test('search by runbook and environment, open the incident: summary, pending approval, activity summaries', async () => {
    const suffix = randomUUID().slice(0, 6);
    const env = `webui-${suffix}`;
    // A deploy in the window makes the diagnosis a deployment regression, which waits on rollback-deploy.
    await h.store.addChange({
      service: SERVICE,
      environment: env,
      kind: 'deploy',
      version: 'v2.4.1',
      at: new Date(Date.now() - 10 * 60_000).toISOString(),
    });
    world.errorLogs(env, "TypeError: Cannot read properties of undefined (reading 'tenant')");
    const handle = await open(env);
    // Same runbook, other environment: the search must leave it out. On a queue no worker polls, it
    // just stays listed as running.
    const decoy = await open(`decoy-${suffix}`, Incidents.create(h.client, h.config, `${h.taskQueue}-idle`));

    const page = await browser.newPage({ viewport: { width: 1400, height: 1600 } });
    page.setDefaultTimeout(UI_TIMEOUT);
    try {
      const state: IncidentState = await eventually(
        'a pending approval on rollback-deploy',
        async () => {
          const s = await handle.query(stateQuery);
          return s.pendingApprovals.some((p) => p.step === 'rollback-deploy') ? s : undefined;
        },
        45_000,
      );

      // The workflows list, filtered by a visibility query on the runbook's search attributes.
      const query = `RunbookId="api-error-budget" AND Environment="${env}"`;
      await page.goto(`${ui}/namespaces/default/workflows?${new URLSearchParams({ query })}`);
      const row = page.getByRole('link', { name: handle.workflowId, exact: true });
      await row.waitFor();
      assert.equal(await row.count(), 1, 'the incident is listed once');
      assert.equal(
        await page.getByRole('link', { name: decoy.workflowId, exact: true }).count(),
        0,
        'the search leaves out the other environment',
      );

      await row.click();
      await page.waitForURL((url) => url.pathname.includes(encodeURIComponent(handle.workflowId)));
      assert.equal((await page.getByTestId('workflow-id-heading').innerText()).trim(), handle.workflowId);

      // Summary, details and current details each render as Markdown in their own frame.
      await page.getByTestId('user-metadata-tab').click();
      const summary = page.frameLocator('iframe#user-metadata-summary').locator('body');
      const expectedSummary = `api-error-budget · ${SERVICE}/${env} · ApiErrorRate`;
      await summary.getByText(expectedSummary).waitFor();
      assert.equal((await summary.innerText()).trim(), expectedSummary);

      const details = page.frameLocator('iframe#user-metadata-current-details').locator('body');
      // The page waits for an acknowledgement beside the approval: each pending decision on a line of its own.
      await details.locator('blockquote').filter({ hasText: 'Awaiting approval' }).first().waitFor();
      assert.match(
        (await details.locator('blockquote').allInnerTexts()).join('\n'),
        /^Awaiting approval: rollback-deploy \(approve\/reject\) by oncall, deadline /m,
      );
      assert.equal(
        await details.locator('blockquote strong', { hasText: /^rollback-deploy$/ }).count(),
        1,
        'the step name is rendered bold, not as raw Markdown',
      );
      assert.match(await details.innerText(), /Diagnosis: deployment_regression/);
      // The checklist mirrors the runbook's state: one heading per section, one item per step.
      const sections = [...new Set(state.steps.map((s) => s.section))];
      assert.deepEqual(
        (await details.locator('h3').allInnerTexts()).map((t) => t.trim()),
        sections,
      );
      assert.equal(await details.locator('li').count(), state.steps.length);
      await screenshot(page, `web-ui-current-details-${env}`);

      // The compact event history puts each activity's summary beside it. Oldest first, so the
      // diagnostics stay on the first page however many events follow them.
      await page.getByTestId('history-tab').click();
      await page.getByTestId('compact').click();
      await page.getByRole('button', { name: 'Descending' }).click();
      await page.getByRole('button', { name: 'Ascending' }).waitFor();
      const history = page.getByTestId('event-summary-table');
      for (const text of [
        '5xx ratio per route (Prometheus)',
        'error logs (Loki)',
        'changes in the 1h before the alert',
      ]) {
        await history.getByText(text, { exact: true }).first().waitFor();
      }
      await history.getByText('5xx ratio per route (Prometheus)', { exact: true }).first().scrollIntoViewIfNeeded();
      await screenshot(page, `web-ui-history-${env}`);
    } catch (err) {
      await screenshot(page, `web-ui-failure-${env}`).catch(() => undefined);
      throw err;
    } finally {
      await page.close();
      await decoy.terminate('test done').catch(() => undefined);
      await handle.cancel();
      await handle.result().catch(() => undefined);
    }
  });
});
