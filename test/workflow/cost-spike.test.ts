// The Cost Spike runbook on the local Temporal dev server, over a real Postgres telemetry database
// written by the scenario generator and kept live by an app stand-in that obeys its feature_flags.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { SCENARIOS } from '../../activities/telemetry-scenarios';
import { stateQuery, type DecisionKind, type IncidentState, type RunbookResult } from '../../workflows/definitions';
import { createHarness, eventually, recordHistory, type Harness } from '../support/harness';
import { createTelemetryDatabase, LlmApp } from '../support/llm-app';
import { SERVICE, World } from '../support/scenario';

/** A Tuesday afternoon: the scenarios' data ends here and the drills read it as of then. */
const NOW = new Date('2026-03-10T15:27:41.123Z');

/** The seed's mitigations for each cause: the first one offered is one of these. */
const EXPECTED_MITIGATION: Record<string, string[]> = {
  traffic_increase: ['rate-limit-traffic'],
  bot_or_abuse: ['rate-limit-traffic'],
  hidden_recompute: ['reduce-auto-save', 'rate-limit-undo'],
  context_bloat: ['cap-context'],
  output_growth: ['rollback-model-or-cap-output'],
  feature_regression: ['throttle-feature'],
  tool_retry_storm: ['reduce-tool-retries', 'circuit-breaker'],
};
const HIDDEN_FLAGS = (flags: Map<string, { value: string | null }>) =>
  flags.get('auto_save_interval_ms')?.value === '30000' || flags.get('undo_rate_limit')?.value === '3/minute';

describe('cost-spike on the local Temporal server', () => {
  const world = new World();
  let h: Harness;
  let db: Awaited<ReturnType<typeof createTelemetryDatabase>>;
  let app: LlmApp;

  before(async () => {
    await Promise.all([world.slack.listen(), world.pagerduty.listen()]);
    db = await createTelemetryDatabase();
    app = new LlmApp(db.pool);
    h = await createHarness(
      'cost',
      {
        notifications: {
          oncall: { slackChannel: '#oncall', pagerduty: true },
          secondary: { slackChannel: '#incident-secondary', pagerduty: true },
          leadership: { slackChannel: '#eng-leadership' },
        },
        escalation: ['oncall', 'secondary'],
        runbooks: {
          'cost-spike': {
            params: { validationWindow: '6s', validationInterval: '2s', approvalDeadline: '1h', followUpAfter: '1h' },
          },
        },
      },
      world.env(),
      { telemetryUrl: db.url },
    );
    await h.startWorker();
  });

  after(async () => {
    app?.stop();
    await h?.close();
    await db?.drop();
    await Promise.all([world.slack.close(), world.pagerduty.close()]);
  });

  async function open(params: Record<string, unknown> = {}, severity = 'warning') {
    const started = await h.incidents.start({
      runbook: 'cost-spike',
      key: randomUUID().slice(0, 8),
      service: SERVICE,
      environment: 'prod',
      severity,
      source: 'manual',
      startedBy: 'test',
      params,
    });
    return h.client.workflow.getHandle<(i: unknown) => Promise<RunbookResult>>(started.workflowId);
  }

  /** Waits for a decision on one of `steps`; answers the state and which one. */
  async function waitingOn(handle: WorkflowHandle, ...steps: string[]): Promise<IncidentState & { on: string }> {
    let last: IncidentState | undefined;
    try {
      return await eventually(
        `a pending decision on ${steps.join(' or ')}`,
        async () => {
          last = await handle.query(stateQuery);
          const on = last.pendingApprovals.find((p) => steps.includes(p.step))?.step;
          return on ? { ...last, on } : undefined;
        },
        60_000,
      );
    } catch (err) {
      const seen =
        last &&
        `status ${last.status}, diagnosis ${last.diagnosis?.primary}, pending [${last.pendingApprovals.map((p) => p.step)}], findings ${last.findings.map((f) => f.summary).join(' | ')}`;
      throw new Error(`${(err as Error).message} (last seen: ${seen})`);
    }
  }

  const decide = (handle: WorkflowHandle, step: string, decision: DecisionKind) =>
    h.incidents.decide(handle.workflowId, { step, decision, by: 'alice', authenticated: false });

  const flag = async (feature: string) =>
    (await db.pool.query('SELECT enabled, value, updated_by FROM feature_flags WHERE feature = $1', [feature]))
      .rows[0] as { enabled: boolean; value: string | null; updated_by: string } | undefined;

  for (const scenario of SCENARIOS) {
    test(`scenario ${scenario}: diagnosis and the proposed mitigation`, async () => {
      await app.generate(scenario, 60_000, NOW);
      const handle = await open({ asOf: NOW.toISOString() });
      if (scenario === 'no_spike') {
        const result = await handle.result();
        assert.equal(result.status, 'resolved');
        assert.equal(result.diagnosis?.primary, 'no spike');
        assert.match(result.resolution, /no sustained spike/);
        const s = await handle.query(stateQuery);
        assert.equal(s.steps.find((x) => x.id === 'hidden-recompute')?.status, 'skipped');
        assert.equal(s.steps.find((x) => x.id === 'record-root-cause')?.status, 'done');
        return;
      }
      const s = await waitingOn(handle, ...EXPECTED_MITIGATION[scenario]);
      assert.equal(s.diagnosis?.primary, scenario, JSON.stringify(s.diagnosis));
      assert.match(s.findings.find((f) => f.step === 'confirm-spike')?.summary ?? '', /sustained spike since/);
      const pending = s.pendingApprovals.find((p) => p.step === s.on);
      assert.match(pending?.detail ?? '', /feature_flags/);
      assert.match(pending?.detail ?? '', /Proposed because: cost \$/);
      // The mitigation names what its cause found: the regressed feature, the failing tool.
      if (scenario === 'feature_regression') {
        assert.equal(s.diagnosis?.causes[0].vars?.feature, 'summarize');
        assert.match(pending?.detail ?? '', /^Throttle feature summarize \(regressed: cost per request \+\d+%\)/);
      }
      if (scenario === 'tool_retry_storm') {
        assert.equal(s.diagnosis?.causes[0].vars?.tool, 'web_search');
        assert.match(pending?.detail ?? '', /^For the failing tool web_search \(\d+% of \d+ calls failed\)/);
      }
      // Steps the diagnosis does not call for are marked so, not left open.
      const called = new Set(s.diagnosis?.causes.flatMap((c) => EXPECTED_MITIGATION[c.cause] ?? []));
      for (const m of Object.values(EXPECTED_MITIGATION).flat())
        if (!called.has(m)) assert.equal(s.steps.find((x) => x.id === m)?.status, 'skipped', m);
      // People (not recompute or tools) behind the traffic: the responder is asked about a campaign.
      const asked = s.pendingApprovals.some((p) => p.step === 'campaign-check');
      assert.equal(
        asked,
        scenario === 'traffic_increase' || scenario === 'bot_or_abuse',
        `campaign-check asked: ${asked}`,
      );
      await handle.cancel();
      await handle.result().catch(() => undefined);
    });
  }

  test('approve: the flag is written with the seed value, the app obeys, cost validates, record and follow-up', async () => {
    await app.generate('hidden_recompute', 100_000);
    const baseline = await app.baselinePerHour();
    app.live({
      spikePerHour: baseline * 1.8,
      fixedPerHour: baseline,
      mitigated: HIDDEN_FLAGS,
    });
    try {
      const handle = await open({ stepBudgets: { 'tool-failures': '1ms' } });
      const s = await waitingOn(handle, 'reduce-auto-save', 'rate-limit-undo');
      assert.equal(s.diagnosis?.primary, 'hidden_recompute');
      const [feature, value] =
        s.on === 'reduce-auto-save' ? ['auto_save_interval_ms', '30000'] : ['undo_rate_limit', '3/minute'];
      assert.equal(await flag(feature), undefined, 'nothing changes before approval');
      await decide(handle, s.on, 'approve');
      const result = await handle.result();
      assert.equal(result.status, 'resolved', result.resolution);
      assert.match(result.resolution, new RegExp(`mitigated by ${s.on}`));
      const row = await flag(feature);
      assert.equal(row?.value, value);
      assert.match(row?.updated_by ?? '', new RegExp(`alice via ${handle.workflowId}(@\\S+)? ${s.on}/apply`));
      const end = await handle.query(stateQuery);
      assert.equal(end.steps.find((x) => x.id === 'validate-cost')?.status, 'done');
      assert.equal(end.steps.find((x) => x.id === 'enable-cost-cap')?.status, 'skipped');
      // A lasting fix stays, and the record says so and why.
      assert.match(
        end.steps.find((x) => x.id === 'remove-temporary-mitigations')?.note ?? '',
        new RegExp(`left in place: ${s.on} \\(the \\w+`),
      );
      // Step budgets: a step over its budget is flagged in the state and the timeline.
      assert.equal(end.steps.find((x) => x.id === 'tool-failures')?.overBudget, true);
      assert.equal(end.steps.find((x) => x.id === 'confirm-spike')?.overBudget, undefined);
      const budget = await h.pool.query(
        "SELECT message FROM incident_events WHERE workflow_id = $1 AND kind = 'over_budget' AND step = 'tool-failures'",
        [handle.workflowId],
      );
      assert.equal(budget.rowCount, 1);
      const alertRule = end.findings.find((f) => f.step === 'alert-rule');
      assert.match(alertRule?.summary ?? '', /InferenceHiddenRecomputeHigh/);
      const { rows } = await h.pool.query('SELECT post_incident FROM incidents WHERE workflow_id = $1', [
        handle.workflowId,
      ]);
      assert.match(rows[0].post_incident.rootCause, /^hidden_recompute: /);
      assert.match(rows[0].post_incident.resolution, new RegExp(`Mitigation applied: ${s.on}`));
      const follow = h.client.workflow.getHandle(`followup/${handle.workflowId}/${(await handle.describe()).runId}`);
      assert.equal((await follow.describe()).status.name, 'RUNNING');
      await follow.terminate('test done');
      await recordHistory(h.client, handle.workflowId, 'cost-spike-v3-approve');
    } finally {
      app.stop();
    }
  });

  test('reject: the rejected change is not made, the next mitigation is offered and validates', async () => {
    await app.generate('hidden_recompute', 100_000);
    const baseline = await app.baselinePerHour();
    app.live({
      spikePerHour: baseline * 1.8,
      fixedPerHour: baseline,
      mitigated: HIDDEN_FLAGS,
    });
    try {
      const handle = await open();
      const first = (await waitingOn(handle, 'reduce-auto-save', 'rate-limit-undo')).on;
      const second = first === 'reduce-auto-save' ? 'rate-limit-undo' : 'reduce-auto-save';
      await decide(handle, first, 'reject');
      await waitingOn(handle, second);
      assert.equal(await flag(first === 'reduce-auto-save' ? 'auto_save_interval_ms' : 'undo_rate_limit'), undefined);
      await decide(handle, second, 'approve');
      const result = await handle.result();
      assert.equal(result.status, 'resolved', result.resolution);
      const end = await handle.query(stateQuery);
      assert.equal(end.mitigations.find((m) => m.step === first)?.status, 'rejected');
      assert.equal(end.mitigations.find((m) => m.step === second)?.status, 'applied');
    } finally {
      app.stop();
    }
  });

  test('still rising: escalation pages, the cost cap waits for approval, leadership hears, a critical incident is offered a feature disable', async () => {
    await app.generate('hidden_recompute', 100_000);
    await db.pool.query(`INSERT INTO feature_flags (feature, enabled) VALUES ('chat', true)`);
    const baseline = await app.baselinePerHour();
    // The app ignores the auto-save setting: only the cost cap (chat off) brings the cost down.
    app.live({ spikePerHour: baseline * 3, fixedPerHour: baseline * 3, mitigated: () => false, feature: 'chat' });
    const pagesBefore = world.pagerduty.events.length;
    try {
      const handle = await open({ costCapUsd: 0.0001, capFeature: 'chat', failAfterBreaches: 2 }, 'P1');
      const first = (await waitingOn(handle, 'reduce-auto-save', 'rate-limit-undo')).on;
      await decide(handle, first, 'approve');
      const s = await waitingOn(handle, 'enable-cost-cap');
      assert.equal(s.status, 'awaiting_approval');
      // Rising: the window's cost is far above the spike's hours, and the prompt shows the slope.
      const capDetail = s.pendingApprovals.find((p) => p.step === 'enable-cost-cap')?.detail ?? '';
      assert.match(capDetail, /^Cap feature chat \(chosen as the capFeature parameter; no feature was diagnosed\)/);
      assert.match(capDetail, /cost still rising: slope \+[\d.]+× baseline per hour/);
      assert.ok(world.pagerduty.events.length > pagesBefore, 'the failed validation paged the next tier');
      assert.equal((await flag('chat'))?.enabled, true, 'the cap waits for approval');
      assert.ok(!world.slack.messages.some((m) => m.channel === '#eng-leadership'));
      await decide(handle, 'enable-cost-cap', 'approve');
      // Critical (P1): a temporary disable of the feature is offered too; the cap already did it.
      const offered = await waitingOn(handle, 'disable-feature');
      assert.match(
        offered.pendingApprovals.find((p) => p.step === 'disable-feature')?.detail ?? '',
        /chat disabled until/,
      );
      await decide(handle, 'disable-feature', 'reject');
      // With chat off no events arrive: no data is not a cost of 0, so a responder judges the window.
      const judged = await waitingOn(handle, 'validate-cost');
      assert.match(
        judged.steps.find((x) => x.id === 'validate-cost')?.note ?? '',
        /insufficient data: .*no inference events since the mitigation/,
      );
      assert.deepEqual(judged.pendingApprovals.find((p) => p.step === 'validate-cost')?.decisions, [
        'confirm',
        'extend',
        'escalate',
      ]);
      await decide(handle, 'validate-cost', 'confirm');
      const result = await handle.result();
      assert.equal(result.status, 'resolved', result.resolution);
      const validated = (await handle.query(stateQuery)).steps.find((x) => x.id === 'validate-cost');
      assert.match(validated?.note ?? '', /confirmed healthy by alice/);
      const chat = await flag('chat');
      assert.equal(chat?.enabled, false);
      assert.match(chat?.updated_by ?? '', /enable-cost-cap\/apply/);
      assert.ok(world.slack.messages.some((m) => m.channel === '#eng-leadership' && /still rising/.test(m.text)));
      const end = await handle.query(stateQuery);
      assert.equal(end.mitigations.find((m) => m.step === 'disable-feature')?.status, 'rejected');
      assert.equal(end.mitigations.find((m) => m.step === 'enable-cost-cap')?.status, 'applied');
      await recordHistory(h.client, handle.workflowId, 'cost-spike-v3-escalation');
    } finally {
      app.stop();
    }
  });

  test('feature regression: the regressed feature is throttled, not the costliest one', async () => {
    await app.generate('feature_regression', 100_000, NOW);
    // chat costs more than summarize (the regressed feature): every chat request twice, every day alike.
    await db.pool.query(
      `INSERT INTO inference_events (created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd,
                                     model, user_agent, tenant, api_key_id)
       SELECT created_at, user_id, feature, trigger_type, input_tokens, output_tokens, cost_usd, model, user_agent,
              tenant, api_key_id
       FROM inference_events WHERE feature = 'chat'`,
    );
    const handle = await open({ asOf: NOW.toISOString() });
    const s = await waitingOn(handle, 'throttle-feature');
    assert.equal(s.diagnosis?.primary, 'feature_regression', JSON.stringify(s.diagnosis));
    assert.match(
      s.findings.find((f) => f.step === 'feature-attribution')?.summary ?? '',
      /^chat \d+% of today's cost/,
      'chat is the costliest feature',
    );
    const detail = s.pendingApprovals.find((p) => p.step === 'throttle-feature')?.detail ?? '';
    await decide(handle, 'throttle-feature', 'approve');
    const throttles = await eventually('a throttle flag', async () => {
      const { rows } = await db.pool.query<{ feature: string; value: string; updated_by: string }>(
        "SELECT feature, value, updated_by FROM feature_flags WHERE feature LIKE '%\\_throttle'",
      );
      return rows.length ? rows : undefined;
    });
    assert.deepEqual(
      throttles.map((r) => [r.feature, r.value]),
      [['summarize_throttle', '10/hour']],
      'the regressed feature is throttled, the costliest left alone',
    );
    assert.match(throttles[0].updated_by, /throttle-feature\/apply/);
    // The approval named it, and the diagnosis says what its mitigation acts on.
    assert.match(
      detail,
      /^Throttle feature summarize \(regressed: cost per request \+\d+%\): feature_flags summarize_throttle = 10\/hour/,
    );
    assert.doesNotMatch(detail, /chat/);
    assert.deepEqual(s.diagnosis?.causes[0].vars, { feature: 'summarize' });
    await handle.cancel();
    await handle.result().catch(() => undefined);
    await recordHistory(h.client, handle.workflowId, 'cost-spike-v3-feature-throttle');
  });

  test('above the limit after mitigation but not rising: no cost cap, the slope shown, the next mitigation, then by hand', async () => {
    await app.generate('hidden_recompute', 100_000);
    const baseline = await app.baselinePerHour();
    // Each mitigation leaves the cost at 1.4× baseline: above the limit (1.2×), below the spike's hours (~1.7×).
    app.live({ spikePerHour: baseline * 1.4, fixedPerHour: baseline * 1.4, mitigated: () => false });
    const leadershipBefore = world.slack.messages.filter((m) => m.channel === '#eng-leadership').length;
    try {
      const handle = await open({ failAfterBreaches: 2 });
      const first = (await waitingOn(handle, 'reduce-auto-save', 'rate-limit-undo')).on;
      const second = first === 'reduce-auto-save' ? 'rate-limit-undo' : 'reduce-auto-save';
      await decide(handle, first, 'approve');
      const s = await waitingOn(handle, second, 'enable-cost-cap');
      assert.equal(s.on, second, 'the next mitigation, not the cost cap');
      const validate = s.steps.find((x) => x.id === 'validate-cost');
      assert.equal(validate?.status, 'failed');
      assert.match(
        validate?.note ?? '',
        /the cost is (falling|flat|not rising meaningfully[^:]*): slope [-+][\d.]+× baseline per hour \([-+]?\$[\d.-]+\/h per hour\); \d\d:00 \$/,
      );
      assert.match(validate?.note ?? '', /since the mitigation \$[\d.]+\/h \(1\.\d\d× baseline\)/);
      assert.match(validate?.note ?? '', new RegExp(`Next: ${second} waits for approval; no cost cap`));
      assert.match(s.steps.find((x) => x.id === 'enable-cost-cap')?.note ?? '', /^not escalated: the cost after/);
      assert.equal(s.steps.find((x) => x.id === 'enable-cost-cap')?.status, 'pending');

      // The second leaves it there too: nothing left, responders mitigate by hand; still no cost cap.
      await decide(handle, second, 'approve');
      await waitingOn(handle, 'manual-mitigation');
      app.stop();
      app.live({ spikePerHour: baseline * 0.9, fixedPerHour: baseline * 0.9, mitigated: () => false });
      await decide(handle, 'manual-mitigation', 'done');
      const result = await handle.result();
      assert.equal(result.status, 'resolved', result.resolution);
      const end = await handle.query(stateQuery);
      for (const id of ['enable-cost-cap', 'alert-leadership', 'disable-feature']) {
        const step = end.steps.find((x) => x.id === id);
        assert.equal(step?.status, 'skipped', id);
        assert.match(step?.note ?? '', /^not escalated: above the limit but not rising after mitigation/, id);
      }
      assert.equal(
        end.mitigations.find((m) => m.step === 'enable-cost-cap'),
        undefined,
        'no cost cap proposed',
      );
      assert.equal(
        world.slack.messages.filter((m) => m.channel === '#eng-leadership').length,
        leadershipBefore,
        'leadership not alerted',
      );
      await recordHistory(h.client, handle.workflowId, 'cost-spike-v3-not-rising');
    } finally {
      app.stop();
    }
  });
});

describe('cost-spike with a broken telemetry database', () => {
  test('unreachable, then missing tables: findings say so and the runbook asks a human', async () => {
    const empty = await createTelemetryDatabase(false);
    const cases = [
      { telemetryUrl: 'postgres://nobody@127.0.0.1:1/none', expect: /telemetry unavailable.*(ECONNREFUSED|connect)/ },
      { telemetryUrl: empty.url, expect: /telemetry unavailable.*relation "inference_(events|hourly)" does not exist/ },
    ];
    try {
      for (const c of cases) {
        const h = await createHarness('cost-broken', {}, {}, { telemetryUrl: c.telemetryUrl });
        try {
          await h.startWorker();
          const started = await h.incidents.start({
            runbook: 'cost-spike',
            service: SERVICE,
            environment: 'prod',
            source: 'manual',
            startedBy: 'test',
          });
          const handle = h.client.workflow.getHandle(started.workflowId);
          const s = await eventually(
            'the manual step',
            async () => {
              const st = await handle.query(stateQuery);
              return st.pendingApprovals.some((p) => p.step === 'manual-mitigation') ? st : undefined;
            },
            60_000,
          );
          const confirm = s.findings.find((f) => f.step === 'confirm-spike');
          assert.equal(confirm?.level, 'unavailable');
          assert.match(confirm?.summary ?? '', c.expect);
          assert.equal(s.diagnosis?.primary, 'insufficient_data');
          assert.deepEqual(s.diagnosis?.causes, [], 'no cause without data');
          assert.match(s.diagnosis?.sources?.unread[0].source ?? '', /telemetry \(7 of 7 diagnostics\)/);
          const steps = Object.fromEntries(s.steps.map((x) => [x.id, x.status]));
          for (const id of ['confirm-spike', 'rule-out-traffic', 'hidden-recompute', 'diagnosis'])
            assert.equal(steps[id], 'unavailable', `${id} is not done without data`);
          await handle.cancel();
        } finally {
          await h.close();
        }
      }
    } finally {
      await empty.drop();
    }
  });
});
