// The Anthropic API incident runbook on the local Temporal dev server. The provider is a local
// server speaking the Messages API (and its Admin API and status page), reached through
// @anthropic-ai/sdk with baseURL, as production reaches the real one.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { ensureProbeSchedule, pauseProbe, probeScheduleState } from '../../client/probe-schedule';
import { stateQuery, type DecisionKind, type IncidentState, type RunbookResult } from '../../workflows/definitions';
import { LLM_PROVIDER_DEFAULTS } from '../../workflows/runbooks/llm-provider-incident.params';
import { LLM_PROVIDER_STEPS, MITIGATION } from '../../workflows/runbooks/llm-provider-incident.steps';
import { AnthropicStandIn } from '../support/anthropic-standin';
import { createHarness, eventually, recordHistory, type Harness } from '../support/harness';
import { secret } from '../support/secrets';
import { PagerDutyStandIn, SlackStandIn, StatusPageStandIn } from '../support/standins';
import { needs, Prometheus, PROMETHEUS } from '../support/system';

const FAST = {
  probeRequests: 3,
  probeTimeout: '700ms',
  recoveryWindow: '2s',
  recoveryInterval: '1s',
  overloadedRetryAfter: '3s',
  serverErrorRetries: 1,
  serverErrorBackoff: '1s',
  rateLimitDefaultWait: '1s',
  approvalDeadline: '1h',
  p1AckWithin: '1h',
  p2AckWithin: '1h',
  p3AckWithin: '1h',
  followUpAfter: '1h',
};

describe('llm-provider-incident on the local Temporal server', () => {
  const anthropic = new AnthropicStandIn();
  const status = new StatusPageStandIn();
  const slack = new SlackStandIn();
  const pagerduty = new PagerDutyStandIn();
  let h: Harness;

  before(async () => {
    await Promise.all([anthropic.listen(), status.listen(), slack.listen(), pagerduty.listen()]);
    anthropic.keyStatus.set('apikey_01', 'active');
    h = await createHarness(
      'provider',
      {
        notifications: {
          oncall: { slackChannel: '#oncall', pagerduty: true },
          secondary: { slackChannel: '#incident-secondary', pagerduty: true },
        },
        escalation: ['oncall', 'secondary'],
        dataSources: { statusPages: [{ name: 'anthropic', url: `${status.url}/api/v2/status.json` }] },
        runbooks: { 'llm-provider-incident': { params: FAST } },
      },
      {
        ANTHROPIC_API_KEY: anthropic.apiKey,
        ANTHROPIC_BASE_URL: anthropic.url,
        ANTHROPIC_ADMIN_KEY: anthropic.adminKey,
        ANTHROPIC_ADMIN_URL: anthropic.url,
        SLACK_BOT_TOKEN: slack.token,
        SLACK_API_URL: `${slack.url}/api`,
        PAGERDUTY_ROUTING_KEY: secret('PAGERDUTY_ROUTING_KEY'),
        PAGERDUTY_EVENTS_URL: pagerduty.url,
      },
    );
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    await Promise.all([anthropic.close(), status.close(), slack.close(), pagerduty.close()]);
  });

  async function open(params: Record<string, unknown> = {}) {
    const started = await h.incidents.start({
      runbook: 'llm-provider-incident',
      key: randomUUID().slice(0, 8),
      service: 'api',
      environment: 'prod',
      source: 'manual',
      startedBy: 'test',
      params,
    });
    return h.client.workflow.getHandle<(i: unknown) => Promise<RunbookResult>>(started.workflowId);
  }

  async function until(handle: WorkflowHandle, what: string, ok: (s: IncidentState) => boolean, timeoutMs = 60_000) {
    let last: IncidentState | undefined;
    try {
      return await eventually(
        what,
        async () => {
          last = await handle.query(stateQuery);
          return ok(last) ? last : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message} (last: ${last?.severity} ${last?.status} ${last?.diagnosis?.primary} pending [${last?.pendingApprovals.map((p) => p.step)}] ${last?.findings.map((f) => f.summary).join(' | ')})`,
      );
    }
  }
  const pending = (step: string) => (s: IncidentState) => s.pendingApprovals.some((p) => p.step === step);
  const decide = (handle: WorkflowHandle, step: string, decision: DecisionKind) =>
    h.incidents.decide(handle.workflowId, { step, decision, by: 'alice', authenticated: false });
  const flag = async (feature: string) =>
    (await h.pool.query('SELECT enabled, value FROM feature_flags WHERE feature = $1', [feature])).rows[0] as
      { enabled: boolean; value: string | null } | undefined;
  const postmortem = async (workflowId: string): Promise<string> =>
    (await h.pool.query('SELECT post_incident FROM incidents WHERE workflow_id = $1', [workflowId])).rows[0]
      ?.post_incident?.postmortem ?? '';

  function assertPostmortem(text: string, severity: string) {
    for (const field of [
      '## Incident:',
      '**Duration:**',
      '**Severity:**',
      '**Impact:**',
      '**Root Cause:**',
      '**Detection:**',
      '**Mitigation:**',
      '**Request IDs:**',
      '**Action Items:**',
      '- [ ] ',
    ])
      assert.ok(text.includes(field), `postmortem lacks ${field}:\n${text}`);
    assert.match(text, new RegExp(`\\*\\*Severity:\\*\\* ${severity}`));
  }

  test('500 for all requests: P1 paged at once, server error retried with backoff, fallback and breaker approved, undone on recovery', async () => {
    anthropic.mode = 500;
    status.indicator = 'major';
    status.description = 'Partial System Outage';
    const pagesBefore = pagerduty.events.length;
    const handle = await open();
    const s = await until(handle, 'the fallback approval', pending('fallback-mode'));
    assert.equal(s.severity, 'P1');
    assert.equal(s.diagnosis?.primary, 'server_error');
    assert.match(s.findings.find((f) => f.step === 'status-page')?.summary ?? '', /major - Partial System Outage/);
    assert.match(
      s.findings.find((f) => f.step === 'connectivity-test')?.summary ?? '',
      /HTTP 500 \| Time: .*request-id req_/,
    );
    assert.match(s.steps.find((x) => x.id === 'server-error-retry')?.note ?? '', /still failing/);
    assert.ok(pagerduty.events.length > pagesBefore, 'P1 pages at once');
    await decide(handle, 'acknowledge', 'acknowledge');
    await decide(handle, 'fallback-mode', 'approve');
    await until(handle, 'the breaker approval', pending('provider-circuit-breaker'));
    assert.deepEqual(await flag('llm_fallback_mode'), {
      enabled: true,
      value: 'Our AI assistant is temporarily unavailable. Please try again shortly.',
    });
    await decide(handle, 'provider-circuit-breaker', 'approve');
    await until(handle, 'the recovery check', (x) => x.status === 'validating');
    anthropic.mode = 'ok';
    status.indicator = 'none';
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    // Undone after recovery: no row before the incident, none after it.
    assert.equal(await flag('llm_fallback_mode'), undefined, 'undone after recovery');
    assert.equal(await flag('llm_circuit_breaker'), undefined);
    const end = await handle.query(stateQuery);
    assert.match(end.steps.find((x) => x.id === 'acknowledge')?.note ?? '', /acknowledged by alice/);
    const pm = await postmortem(handle.workflowId);
    assertPostmortem(pm, 'P1');
    assert.match(pm, /Request IDs:\*\* req_/);
    // The API answered again, so the model drafted a narrative under the template.
    assert.ok(pm.endsWith(`### Narrative (drafted by ${LLM_PROVIDER_DEFAULTS.probeModel})\n1`), pm);
    const drafted = anthropic.requests.filter((r) => r.body.includes('narrative of this incident'));
    assert.equal(drafted.length >= 1, true);
    // The fixtures of the runbook before patch llm-provider-evidence (llm-provider-server-error,
    // llm-provider-key-compromise) stay as recorded: they prove that incidents started on it replay.
    await recordHistory(h.client, handle.workflowId, 'llm-provider-v2-server-error');
  });

  test('529: overloaded, retried after the wait, recovered without mitigation', async () => {
    anthropic.mode = 529;
    const handle = await open();
    await until(
      handle,
      'the overloaded branch',
      (s) => s.steps.find((x) => x.id === 'overloaded-retry')?.status === 'running',
    );
    anthropic.mode = 'ok';
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assert.equal(result.diagnosis?.primary, 'overloaded');
    const end = await handle.query(stateQuery);
    assert.equal(end.severity, 'P1');
    assert.equal(end.steps.find((x) => x.id === 'fallback-mode')?.status, 'skipped');
    assert.match(end.steps.find((x) => x.id === 'overloaded-retry')?.note ?? '', /answers again/);
    assertPostmortem(await postmortem(handle.workflowId), 'P1');
  });

  test('429: P2, headers read, retry-after waited, traffic reduced with approval', async () => {
    anthropic.mode = 429;
    anthropic.retryAfterSeconds = 1;
    const pagesBefore = pagerduty.events.length;
    const handle = await open({ p2AckWithin: '2s' });
    const s = await until(handle, 'the breaker approval', pending('provider-circuit-breaker'));
    assert.equal(s.severity, 'P2');
    assert.equal(s.diagnosis?.primary, 'rate_limited');
    assert.match(s.findings.find((f) => f.step === 'rate-limit-headers')?.summary ?? '', /retry-after: 1/);
    assert.match(s.steps.find((x) => x.id === 'rate-limit-wait')?.note ?? '', /still failing/);
    assert.ok(slack.messages.some((m) => m.channel === '#oncall' && /P2 LLM provider incident/.test(m.text)));
    // Nobody acknowledged within P2's response time: the on-call tier is paged.
    await eventually('the unacknowledged P2 paged', async () =>
      pagerduty.events.slice(pagesBefore).some((e) => /Acknowledge within the response time/.test(JSON.stringify(e)))
        ? true
        : undefined,
    );
    await decide(handle, 'provider-circuit-breaker', 'approve');
    for (const step of ['queue-non-critical', 'message-batches', 'reduce-max-tokens']) {
      await until(handle, step, pending(step));
      await decide(handle, step, step === 'reduce-max-tokens' ? 'approve' : 'reject');
    }
    anthropic.mode = 'ok';
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    const end = await handle.query(stateQuery);
    assert.equal(end.mitigations.find((m) => m.step === 'queue-non-critical')?.status, 'rejected');
    assert.equal(end.mitigations.find((m) => m.step === 'reduce-max-tokens')?.status, 'undone');
    assertPostmortem(await postmortem(handle.workflowId), 'P2');
  });

  test('401: key issue, a responder fixes the key, recovery', async () => {
    anthropic.mode = 401;
    const handle = await open();
    const s = await until(handle, 'the key question', pending('key-issue'));
    assert.equal(s.severity, 'P1');
    assert.equal(s.diagnosis?.primary, 'auth_failure');
    assert.match(s.pendingApprovals.find((p) => p.step === 'key-issue')?.detail ?? '', /ANTHROPIC_API_KEY is set/);
    anthropic.mode = 'ok';
    await decide(handle, 'key-issue', 'done');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    assertPostmortem(await postmortem(handle.workflowId), 'P1');
  });

  test('timeouts: P2, increase the timeout and check max_tokens, reduce max_tokens offered', async () => {
    anthropic.mode = 'slow';
    anthropic.slowMs = 3000;
    const handle = await open();
    const s = await until(handle, 'the max_tokens approval', pending('reduce-max-tokens'));
    assert.equal(s.severity, 'P2');
    assert.equal(s.diagnosis?.primary, 'timeout');
    assert.match(s.steps.find((x) => x.id === 'timeout-check')?.note ?? '', /increase the client timeout/);
    anthropic.mode = 'ok';
    await decide(handle, 'reduce-max-tokens', 'reject');
    await until(handle, 'the smaller model approval', pending('smaller-model'));
    await decide(handle, 'smaller-model', 'reject');
    assert.equal((await handle.result()).status, 'resolved');
    assertPostmortem(await postmortem(handle.workflowId), 'P2');
  });

  test('intermittent errors are P3, rising to P1 mid-incident: paged, and an unacknowledged P1 pages the next tier', async () => {
    anthropic.mode = 'ok';
    anthropic.errorRate = 1 / 3;
    const pagesBefore = pagerduty.events.length;
    const handle = await open({
      intermittentErrorRate: 0.5,
      serverErrorRetries: 3,
      serverErrorBackoff: '2s',
      p1AckWithin: '2s',
    });
    const s = await until(handle, 'P3', (x) => x.severity === 'P3');
    assert.equal(s.pendingApprovals.find((p) => p.step === 'acknowledge')?.detail, 'P3: acknowledge within 1h');
    assert.equal(pagerduty.events.length, pagesBefore, 'P3 does not page');
    anthropic.mode = 500;
    // The acknowledgement is asked again, on P1's clock.
    await until(
      handle,
      'P1 and its acknowledgement',
      (x) =>
        x.severity === 'P1' && x.pendingApprovals.some((p) => p.step === 'acknowledge' && /^P1/.test(p.detail ?? '')),
    );
    const timeline = async () =>
      (
        await h.pool.query('SELECT kind, message FROM incident_events WHERE workflow_id = $1 ORDER BY seq', [
          handle.workflowId,
        ])
      ).rows as { kind: string; message: string }[];
    await eventually('the severity rise in the timeline', async () =>
      (await timeline()).some((e) => e.kind === 'severity_raised' && /P3 → P1/.test(e.message)) ? true : undefined,
    );
    // Tier 1 at once, tier 2 when nobody acknowledged within p1AckWithin.
    await eventually('the next tier paged', async () =>
      (await timeline()).some((e) => e.kind === 'escalated' && /#incident-secondary/.test(e.message))
        ? true
        : undefined,
    );
    assert.ok(pagerduty.events.length > pagesBefore);
    anthropic.errorRate = 0;
    await handle.cancel();
    await handle.result().catch(() => undefined);
  });

  test('degraded quality reported: P4 with a next-business-day response time, responders investigate', async () => {
    anthropic.mode = 'ok';
    anthropic.errorRate = 0;
    const handle = await open({ degradedQuality: true });
    const s = await until(handle, 'the manual step', pending('manual-mitigation'));
    assert.equal(s.severity, 'P4');
    const ack = s.pendingApprovals.find((p) => p.step === 'acknowledge');
    const day = new Date(ack?.deadline ?? 0);
    assert.ok(day.getUTCDay() >= 1 && day.getUTCDay() <= 5 && day.getUTCHours() === 9, `deadline ${ack?.deadline}`);
    await decide(handle, 'manual-mitigation', 'done');
    assert.equal((await handle.result()).status, 'resolved');
    assertPostmortem(await postmortem(handle.workflowId), 'P4');
  });

  test('key compromise: revoked through the Admin API with approval, rotated by a responder, usage audited, no key in history', async () => {
    anthropic.mode = 'ok';
    await h.pool.query(
      `INSERT INTO inference_events (created_at, user_id, tenant, api_key_id, user_agent, cost_usd)
       SELECT now() - (g || ' minutes')::interval, 'intruder', 't-x', 'key_stolen', 'python-requests/2.32', 0.01 FROM generate_series(1, 30) g`,
    );
    const handle = await open({ keyCompromise: true, apiKeyId: 'apikey_01' });
    const s = await until(handle, 'the revoke approval', pending('revoke-key'));
    assert.equal(s.severity, 'P1');
    assert.equal(anthropic.keyStatus.get('apikey_01'), 'active', 'nothing revoked before approval');
    await decide(handle, 'revoke-key', 'approve');
    // No rotate command configured: one question, for a responder to do it and say so.
    const rotation = await until(handle, 'the manual rotation', (x) =>
      x.pendingApprovals.some((p) => p.step === 'rotate-key' && p.kind === 'manual'),
    );
    assert.match(rotation.pendingApprovals.find((p) => p.step === 'rotate-key')?.detail ?? '', /Do this by hand/);
    assert.equal(anthropic.keyStatus.get('apikey_01'), 'inactive');
    await decide(handle, 'rotate-key', 'done');
    const result = await handle.result();
    assert.equal(result.status, 'resolved');
    const end = await handle.query(stateQuery);
    assert.match(end.findings.find((f) => f.step === 'audit-usage')?.summary ?? '', /api_key_id key_stolen 0 → 30/);
    assert.equal(end.steps.find((x) => x.id === 'diagnosis')?.status, 'skipped');
    const history = JSON.stringify(await h.client.workflow.getHandle(handle.workflowId).fetchHistory());
    for (const secret of [anthropic.apiKey, anthropic.adminKey])
      assert.ok(!history.includes(secret), 'a key value in history');
    assertPostmortem(await postmortem(handle.workflowId), 'P1');
    // The report is filed when the postmortem is stored, not ticked before.
    assert.equal(end.steps.find((x) => x.id === 'incident-report')?.status, 'done');
    assert.match(end.steps.find((x) => x.id === 'incident-report')?.note ?? '', /stored with the incident/);
    const finished = async (step: string) =>
      Number(
        (
          await h.pool.query(
            "SELECT max(seq) AS seq FROM incident_events WHERE workflow_id = $1 AND kind = 'step_finished' AND step = $2",
            [handle.workflowId, step],
          )
        ).rows[0].seq,
      );
    await eventually('the timeline stored', async () => ((await finished('incident-report')) > 0 ? true : undefined));
    assert.ok(
      (await finished('incident-report')) > (await finished('postmortem')),
      'incident-report done after the store',
    );
    await recordHistory(h.client, handle.workflowId, 'llm-provider-v2-key-compromise');
  });

  const mitigationSteps = LLM_PROVIDER_STEPS.filter((x) => x.section === MITIGATION && x.kind === 'approval').map(
    (x) => x.id,
  );

  test('no API key: not tested, never healthy; no provider mitigation; a responder is asked, and asked again when recovery has no data', async () => {
    const key = h.env.ANTHROPIC_API_KEY;
    delete h.env.ANTHROPIC_API_KEY;
    anthropic.mode = 'ok';
    const sent = anthropic.requests.length;
    try {
      const handle = await open();
      const s = await until(handle, 'a responder asked', pending('manual-mitigation'), 20_000);
      assert.equal(s.diagnosis?.primary, 'not_tested');
      assert.deepEqual(
        s.diagnosis?.sources?.unread.find((u) => u.source === 'test requests'),
        { source: 'test requests', reason: 'ANTHROPIC_API_KEY is not set' },
      );
      assert.equal(s.severity, 'unknown', 'no severity without evidence');
      const summary = (step: string) => s.findings.find((f) => f.step === step)?.summary ?? '';
      assert.match(summary('classify-severity'), /^not tested: ANTHROPIC_API_KEY is not set/);
      assert.doesNotMatch(JSON.stringify(s.findings), /no errors|healthy/);
      const step = (id: string) => s.steps.find((x) => x.id === id);
      for (const id of ['classify-severity', 'connectivity-test', 'rate-limit-headers', 'diagnosis'])
        assert.equal(step(id)?.status, 'unavailable', `${id}: ${step(id)?.status} (${step(id)?.note})`);
      assert.match(step('connectivity-test')?.note ?? '', /ANTHROPIC_API_KEY is not set/);
      assert.match(step('rate-limit-headers')?.note ?? '', /no test request was sent/);
      const ask = s.pendingApprovals.find((p) => p.step === 'manual-mitigation');
      assert.match(ask?.detail ?? '', /not tested: ANTHROPIC_API_KEY is not set/);
      assert.doesNotMatch(ask?.detail ?? '', /look for the cause in the app/);
      for (const id of mitigationSteps) assert.equal(step(id)?.status, 'skipped', id);
      await eventually('on-call told', async () =>
        slack.messages.some((m) => m.channel === '#oncall' && /not tested/.test(m.text)) ? true : undefined,
      );
      await decide(handle, 'manual-mitigation', 'done');
      const r = await until(handle, 'the recovery question', pending('recovery-check'), 20_000);
      const q = r.pendingApprovals.find((p) => p.step === 'recovery-check');
      assert.deepEqual(q?.decisions, ['confirm', 'extend', 'escalate']);
      assert.match(q?.detail ?? '', /insufficient data.*ANTHROPIC_API_KEY is not set/);
      await decide(handle, 'recovery-check', 'confirm');
      const result = await handle.result();
      assert.equal(result.status, 'resolved');
      const end = await handle.query(stateQuery);
      assert.match(end.steps.find((x) => x.id === 'recovery-check')?.note ?? '', /confirmed recovered by alice/);
      assert.equal(end.steps.find((x) => x.id === 'acknowledge')?.status, 'skipped');
      assert.equal(anthropic.requests.length, sent, 'nothing sent without a key');
      const pm = await postmortem(handle.workflowId);
      assertPostmortem(pm, 'unknown');
      assert.match(pm, /no test request was sent/);
      await recordHistory(h.client, handle.workflowId, 'llm-provider-v2-not-tested');
    } finally {
      h.env.ANTHROPIC_API_KEY = key;
    }
  });

  test('the key removed during recovery: the window has no data and does not pass; a responder extends it, then keeps the mitigations and escalates', async () => {
    anthropic.mode = 529;
    const key = h.env.ANTHROPIC_API_KEY;
    const pagesBefore = pagerduty.events.length;
    try {
      const handle = await open({ overloadedRetryAfter: '1s' });
      await until(handle, 'the fallback approval', pending('fallback-mode'));
      await decide(handle, 'fallback-mode', 'approve');
      await until(handle, 'the breaker approval', pending('provider-circuit-breaker'));
      delete h.env.ANTHROPIC_API_KEY;
      anthropic.mode = 'ok';
      await decide(handle, 'provider-circuit-breaker', 'reject');
      const s = await until(handle, 'the recovery question', pending('recovery-check'), 20_000);
      assert.match(
        s.pendingApprovals.find((p) => p.step === 'recovery-check')?.detail ?? '',
        /insufficient data.*ANTHROPIC_API_KEY is not set/,
      );
      assert.equal((await flag('llm_fallback_mode'))?.enabled, true, 'not undone without evidence of recovery');
      await decide(handle, 'recovery-check', 'extend');
      await until(
        handle,
        'asked again after the extended window',
        (x) =>
          pending('recovery-check')(x) &&
          (x.steps.find((st) => st.id === 'recovery-check')?.decisions?.length ?? 0) === 1,
        20_000,
      );
      await decide(handle, 'recovery-check', 'escalate');
      const result = await handle.result();
      assert.equal(result.status, 'escalated');
      assert.match(result.resolution, /not confirmed recovered/);
      assert.equal((await flag('llm_fallback_mode'))?.enabled, true, 'left in place');
      const end = await handle.query(stateQuery);
      assert.equal(end.steps.find((x) => x.id === 'recovery-check')?.status, 'unavailable');
      assert.equal(end.steps.find((x) => x.id === 'remove-mitigations')?.status, 'skipped');
      assert.equal(end.mitigations.find((m) => m.step === 'fallback-mode')?.status, 'applied');
      assert.ok(pagerduty.events.length > pagesBefore);
      const timeline = (
        await h.pool.query('SELECT kind, message FROM incident_events WHERE workflow_id = $1 ORDER BY seq', [
          handle.workflowId,
        ])
      ).rows as { kind: string; message: string }[];
      assert.ok(
        timeline.some((e) => e.kind === 'escalated' && /recovery not confirmed/.test(e.message)),
        JSON.stringify(timeline.filter((e) => e.kind === 'escalated')),
      );
      assert.ok(!timeline.some((e) => e.kind === 'mitigation_undone'));
      assertPostmortem(await postmortem(handle.workflowId), 'P1');
      await recordHistory(h.client, handle.workflowId, 'llm-provider-v2-recovery-no-data');
    } finally {
      h.env.ANTHROPIC_API_KEY = key;
      anthropic.mode = 'ok';
    }
  });

  test('404 not_found_error for the probe model: the misconfigured branch, asked to fix the config, no provider mitigation', async () => {
    anthropic.mode = 'ok';
    anthropic.models = ['claude-haiku-4-5'];
    try {
      const handle = await open({ probeModel: 'claude-haiku-4-20250514' });
      const s = await until(handle, 'the configuration question', pending('misconfigured-request'), 20_000);
      assert.equal(s.diagnosis?.primary, 'misconfigured');
      assert.equal(s.severity, 'unknown', 'a malformed test request says nothing of the provider');
      const detail = s.pendingApprovals.find((p) => p.step === 'misconfigured-request')?.detail ?? '';
      assert.match(detail, /404 not_found_error: model: claude-haiku-4-20250514/);
      assert.match(detail, /probeModel/);
      assert.match(detail, /ANTHROPIC_BASE_URL/);
      for (const id of mitigationSteps)
        assert.equal(s.steps.find((x) => x.id === id)?.status, 'skipped', `${id} offered for a misconfiguration`);
      for (const id of ['key-issue', 'rate-limit-wait', 'server-error-retry', 'overloaded-retry', 'timeout-check'])
        assert.equal(s.steps.find((x) => x.id === id)?.status, 'skipped', id);
      anthropic.models = null;
      await decide(handle, 'misconfigured-request', 'done');
      const result = await handle.result();
      assert.equal(result.status, 'resolved');
      assert.equal(result.diagnosis?.primary, 'misconfigured');
      const end = await handle.query(stateQuery);
      assert.equal(end.steps.find((x) => x.id === 'misconfigured-request')?.status, 'done');
      assert.deepEqual(
        end.mitigations.filter((m) => m.status === 'applied' || m.status === 'undone'),
        [],
      );
      await recordHistory(h.client, handle.workflowId, 'llm-provider-v2-misconfigured');
    } finally {
      anthropic.models = null;
    }
  });

  test('1 of the default 5 test requests failing, no app metrics: P3 intermittent, with the count and interval', async () => {
    anthropic.mode = 'ok';
    anthropic.errorRate = 0.2;
    try {
      const handle = await open({ probeRequests: LLM_PROVIDER_DEFAULTS.probeRequests });
      const s = await until(
        handle,
        'the classification',
        (x) => !['pending', 'running'].includes(x.steps.find((st) => st.id === 'classify-severity')?.status ?? ''),
        20_000,
      );
      assert.equal(s.severity, 'P3');
      assert.match(
        s.findings.find((f) => f.step === 'classify-severity')?.summary ?? '',
        /1 of 5 test requests failed \(20\.0%, 95% CI 3\.6%-62\.4%/,
      );
      await handle.cancel();
      await handle.result().catch(() => undefined);
    } finally {
      anthropic.errorRate = 0;
    }
  });

  test('the probe schedule opens one incident when the provider fails, joins it only when what it finds changes, pauses', async () => {
    anthropic.mode = 500;
    const scheduleId = `probe-${randomUUID().slice(0, 6)}`;
    const environment = `probe-${randomUUID().slice(0, 6)}`;
    await ensureProbeSchedule(
      h.client,
      { enabled: true, every: '2s', service: 'api', environment },
      h.taskQueue,
      scheduleId,
    );
    const workflowId = `incident/llm-provider-incident/probe-api-${environment}`;
    try {
      const handle = h.client.workflow.getHandle(workflowId);
      const s = await until(handle, 'the probe-opened incident', (x) => x.severity === 'P1', 60_000);
      assert.equal(s.alerts[0]?.alertname, 'LLMProviderProbeFailed');
      const firing = async () =>
        Number(
          (
            await h.pool.query(
              "SELECT count(*) AS n FROM incident_events WHERE workflow_id = $1 AND kind = 'alert_firing'",
              [workflowId],
            )
          ).rows[0].n,
        );
      // Later probes finding the same failure tell the incident nothing new: no signal, nothing recorded.
      const probeRuns = async () => {
        let n = 0;
        for await (const _ of h.client.workflow.list({ query: `WorkflowId STARTS_WITH "${scheduleId}"` })) n++;
        return n;
      };
      const runsBefore = await probeRuns();
      await eventually('three more probe runs', async () => ((await probeRuns()) >= runsBefore + 3 ? true : undefined));
      const signals = async () =>
        (await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
      assert.equal(await signals(), 0, 'an unchanged failure is not signalled');
      assert.equal(await firing(), 1);
      // A different failure (rate limited, P2) is news: the next probe joins the incident with it.
      anthropic.mode = 429;
      await eventually(
        'a later probe to join the incident',
        async () => ((await firing()) >= 2 ? true : undefined),
        30_000,
      );
      assert.equal(await signals(), 1);
      const incidents = [];
      for await (const wf of h.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) incidents.push(wf);
      assert.equal(incidents.length, 1, 'one incident, however many probes failed');
      await pauseProbe(h.client, 'planned provider maintenance', scheduleId);
      const state = await probeScheduleState(h.client, scheduleId);
      assert.equal(state.paused, true);
      assert.equal(state.note, 'planned provider maintenance');
      assert.equal(state.every, '2s');
      await handle.cancel();
    } finally {
      await h.client.schedule.getHandle(scheduleId).delete();
      anthropic.mode = 'ok';
    }
  });
});

/** The app's own provider metrics, in Prometheus' text format: every scrape adds a second of traffic. */
class AppMetrics {
  private server?: http.Server;
  url = '';
  requests = 0;
  slow = 0;
  quality = 0.95;
  /** Share of requests slower than 10 s. */
  slowShare = 0;

  async listen(): Promise<this> {
    this.server = http.createServer((_req, res) => {
      this.requests += 100;
      this.slow += Math.round(100 * this.slowShare);
      const fast = this.requests - this.slow;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(
        [
          '# TYPE llm_provider_requests_total counter',
          `llm_provider_requests_total{status="200"} ${this.requests}`,
          '# TYPE llm_provider_request_duration_seconds histogram',
          `llm_provider_request_duration_seconds_bucket{le="1"} ${fast}`,
          `llm_provider_request_duration_seconds_bucket{le="10"} ${fast}`,
          `llm_provider_request_duration_seconds_bucket{le="30"} ${this.requests}`,
          `llm_provider_request_duration_seconds_bucket{le="+Inf"} ${this.requests}`,
          `llm_provider_request_duration_seconds_count ${this.requests}`,
          `llm_provider_request_duration_seconds_sum ${fast * 0.5 + this.slow * 20}`,
          '# TYPE llm_eval_score gauge',
          `llm_eval_score ${this.quality}`,
          '',
        ].join('\n'),
      );
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

describe("llm-provider-incident from the app's metrics in a real Prometheus", { skip: needs(PROMETHEUS) }, () => {
  const anthropic = new AnthropicStandIn();
  const app = new AppMetrics();
  const prometheus = new Prometheus();
  let h: Harness;

  before(async () => {
    await Promise.all([anthropic.listen(), app.listen()]);
    await prometheus.start({ target: app.url, labels: { service: 'api' } });
    h = await createHarness(
      'provider-metrics',
      {
        dataSources: {
          prometheus: { url: prometheus.url },
          llmProvider: { qualityQuery: 'llm_eval_score{service="{service}"}' },
        },
        runbooks: { 'llm-provider-incident': { params: FAST } },
      },
      { ANTHROPIC_API_KEY: anthropic.apiKey, ANTHROPIC_BASE_URL: anthropic.url },
    );
    await h.startWorker();
  });

  after(async () => {
    await h?.close();
    await prometheus.stop();
    await Promise.all([anthropic.close(), app.close()]);
  });

  async function classified(params: Record<string, unknown> = {}): Promise<IncidentState> {
    const started = await h.incidents.start({
      runbook: 'llm-provider-incident',
      service: 'api',
      environment: 'prod',
      source: 'manual',
      startedBy: 'test',
      params,
    });
    const handle = h.client.workflow.getHandle(started.workflowId);
    const s = await eventually('the diagnosis', async () => {
      const st = await handle.query(stateQuery);
      return st.steps.find((x) => x.id === 'diagnosis')?.status === 'done' ? st : undefined;
    });
    await handle.cancel();
    return s;
  }

  test('p99 above 10 s in the app while test requests answer: P2, the slow-responses branch', async () => {
    app.slowShare = 0.05;
    await eventually('Prometheus to see the slow requests', async () => {
      const r = await prometheus.query(
        'histogram_quantile(0.99, sum by (le) (rate(llm_provider_request_duration_seconds_bucket{service="api"}[5m])))',
      );
      return Number(r[0]?.value[1]) > 10 ? true : undefined;
    });
    const s = await classified();
    assert.equal(s.severity, 'P2');
    assert.equal(s.diagnosis?.primary, 'timeout');
    assert.match(
      s.findings.find((f) => f.step === 'classify-severity')?.summary ?? '',
      /app p99 latency \d+ ms > 10000 ms/,
    );
  });

  test('quality signal below its threshold, no errors: P4', async () => {
    app.slowShare = 0;
    app.quality = 0.6;
    await eventually(
      'fast requests again',
      async () => {
        const r = await prometheus.query(
          'histogram_quantile(0.99, sum by (le) (rate(llm_provider_request_duration_seconds_bucket{service="api"}[20s])))',
        );
        return Number(r[0]?.value[1]) <= 10 ? true : undefined;
      },
      60_000,
    );
    const s = await classified({ p99LatencyThreshold: '1h' });
    assert.equal(s.severity, 'P4');
    assert.match(s.findings.find((f) => f.step === 'classify-severity')?.summary ?? '', /quality signal 0.6 below 0.8/);
  });
});
