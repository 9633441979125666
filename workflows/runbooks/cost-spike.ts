// Cost Spike Runbook — use when inference costs have spiked unexpectedly (>20% above baseline).
// Follows the document step by step over the LLM app's telemetry: confirm the spike, rule out
// traffic, hidden recompute, token usage, feature attribution, tool failures; then mitigation
// with approval, validation, escalation while costs still rise, and document and monitor.
import { condition, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { Observed } from '../../activities/http';
import type { DecisionInput, Diagnosis, RunbookInput, RunbookResult } from '../definitions';
import { scheduleFollowUp } from '../follow-up';
import { formatMs, toMs } from '../toolkit/duration';
import { Mitigations, paramVars } from '../toolkit/mitigations';
import { recordPostIncident } from '../toolkit/post-incident';
import { holdWindow } from '../toolkit/hold-window';
import { Runbook } from '../toolkit/runbook';
import { validationWindow } from '../toolkit/validation';
import {
  costMitigationPlan,
  costTrend,
  diagnoseCostSpike,
  NO_COST_EVIDENCE,
  type CostSpikeDiagnosis,
  type CostSpikeEvidence,
  type CostTrend,
} from './cost-spike.diagnose';
import { alertRuleFor } from './cost-spike.alert-rule';
import { COST_SPIKE_DEFAULTS, type CostSpikeParams } from './cost-spike.params';
import { COST_SPIKE_STEPS, MITIGATION } from './cost-spike.steps';
import * as summarize from './cost-spike.summaries';

/** Mitigations for the incident only: the feature comes back once costs are back to baseline. */
const TEMPORARY = new Set(['disable-feature']);
/** Since `cost-spike-undo-traffic-limit`: the traffic rate limit is lifted with the incident too. */
const TEMPORARY_NOW = new Set([...TEMPORARY, 'rate-limit-traffic']);
/** Why the others stay once the incident ends: named in the removal step. */
const KEPT_BECAUSE: Record<string, string> = {
  'reduce-auto-save': 'the slower auto-save stays until the recompute is fixed',
  'rate-limit-undo': 'the undo limit stays until the recompute is fixed',
  'cap-context': 'the context cap stays until context management is fixed',
  'reduce-tool-retries': 'fewer retries stay until the tool is healthy and its retries reviewed',
  'circuit-breaker': 'the breaker guards the tool from now on',
  'throttle-feature': "the throttle stays until the feature's regression is fixed",
  'rollback-model-or-cap-output': 'the output cap stays until the model or prompt change is reviewed',
  'enable-cost-cap': 'the cost cap stays until a responder lifts it',
};
const HOUR = 3_600_000;

// Diagnostics report an unreachable database as a finding rather than throw, so a few attempts do.
const act = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});
export async function costSpike(input: RunbookInput<Partial<CostSpikeParams>>): Promise<RunbookResult> {
  const p: CostSpikeParams = {
    ...COST_SPIKE_DEFAULTS,
    ...input.params,
    stepBudgets: { ...COST_SPIKE_DEFAULTS.stepBudgets, ...input.params.stepBudgets },
  };
  const budgets = Object.fromEntries(Object.entries(p.stepBudgets).map(([step, d]) => [step, toMs(d)]));
  const rb = new Runbook({ ...input, params: { ...p } }, COST_SPIKE_STEPS, budgets);
  const mitigations = new Mitigations(rb);
  const deadlineMs = toMs(p.approvalDeadline);
  const startedMs = Date.now();
  // Every diagnostic reads the telemetry as it is now, late arrivals for past hours included.
  const nowMs = p.asOf ? Date.parse(p.asOf) : startedMs;
  // A drill reads its scenario's scratch database instead of the app's.
  const database = input.drill?.telemetryDatabase;
  const opts = {
    now: nowMs,
    threshold: p.spikeThreshold,
    sustainedHours: p.sustainedHours,
    baselineDays: p.baselineDays,
  };
  let closing = false;
  let campaignAsked: Promise<void> = Promise.resolve();
  // Incidents started before: the last-sample window and a skip that closes; replayed as they ran.
  const evidenceRules = patched('cost-spike-evidence');
  // Incidents started before: mitigations aim at the costliest feature, and any failed window
  // escalates to the cost cap; replayed as they ran.
  const aimAtCauses = patched('cost-spike-cause-targets');
  const risingRule = patched('cost-spike-still-rising');
  const temporary = patched('cost-spike-undo-traffic-limit') ? TEMPORARY_NOW : TEMPORARY;
  // Who confirmed the last window by hand when it had too little data to judge.
  let confirmedBy: string | undefined;
  // The last failed window's cost course: whether costs are still rising after mitigation.
  let trend = null as CostTrend | null;

  try {
    rb.setStatus('diagnosing');
    // Step 1: Confirm the Spike
    const { hourly, history, confirmation } = await rb.step('confirm-spike', async () => {
      const [hourly, history] = await Promise.all([
        act.costByHour.executeWithOptions({ summary: 'hourly cost over 48 h' }, [{ nowMs, database }]),
        act.costHistory.executeWithOptions({ summary: `hourly cost over ${p.baselineDays + 2} days` }, [
          { nowMs, days: p.baselineDays + 2, database },
        ]),
      ]);
      if (!hourly.available) {
        rb.sourceUnavailable('confirm-spike', telemetryDown(hourly));
        rb.note(
          'confirm-spike',
          `telemetry unavailable: the spike cannot be confirmed from data (${telemetryDown(hourly)})`,
        );
        return { hourly, history, confirmation: null };
      }
      const c = diagnoseCostSpike(
        { ...NO_COST_EVIDENCE, hourlyCost: hourly.data, history: history.available ? history.data : undefined },
        opts,
      );
      rb.finding({
        step: 'confirm-spike',
        level: c.confirmed ? 'critical' : 'info',
        summary: summarize.confirmation(c, p.spikeThreshold),
        evidence: { query: hourly.query, hours: c.hours },
      });
      rb.note('confirm-spike', c.startedAt ? `spike started at ${c.startedAt}` : 'no sustained spike');
      return { hourly, history, confirmation: c };
    });

    if (confirmation && !confirmation.confirmed) {
      for (const s of COST_SPIKE_STEPS.filter((s) => s.section !== COST_SPIKE_STEPS[0].section)) {
        if (!['record-root-cause', 'alert-rule', 'schedule-follow-up'].includes(s.id))
          rb.skip(s.id, 'no sustained spike to diagnose');
      }
      const resolution = `no sustained spike: ${summarize.confirmation(confirmation, p.spikeThreshold)}`;
      return await finish({ primary: 'no spike', causes: [] }, resolution, true);
    }
    const spikeFrom = confirmation?.startedAt ? Date.parse(confirmation.startedAt) : nowMs - 8 * HOUR;
    const span = { fromMs: spikeFrom, toMs: nowMs };

    // Step 2: Rule Out Traffic Increase
    const { traffic, sources } = await rb.step('rule-out-traffic', async () => {
      const [traffic, sources] = await Promise.all([
        act.costTraffic.executeWithOptions({ summary: 'requests, users, cost per request per hour' }, [
          { nowMs, database },
        ]),
        act.costTrafficSources.executeWithOptions({ summary: 'user agents and top users' }, [{ ...span, database }]),
      ]);
      if (!traffic.available) {
        rb.sourceUnavailable('rule-out-traffic', telemetryDown(traffic));
        return { traffic, sources };
      }
      const t = summarize.traffic(traffic.data, span, p.spikeThreshold);
      rb.finding({
        step: 'rule-out-traffic',
        level: t.spiked ? 'warning' : 'info',
        summary: t.summary + (sources.available ? `; ${summarize.sources(sources.data)}` : ''),
        evidence: {
          query: traffic.query,
          rows: traffic.data,
          sources: sources.available ? sources.data : sources.reason,
        },
      });
      rb.note(
        'rule-out-traffic',
        !t.spiked
          ? 'traffic flat: cost per request'
          : t.people
            ? 'traffic spiked: ask about a campaign'
            : 'requests up, users flat',
      );
      return { traffic, sources };
    });
    // The question waits for a human but not the diagnosis: its answer weighs the traffic mitigation.
    let campaign: DecisionInput | undefined;
    // Requests that rise while users stay flat point at recompute, not traffic, unless agents are bots.
    const bots =
      sources.available && sources.data.botRequests.spike > sources.data.botRequests.baseline * (1 + p.spikeThreshold);
    const t = traffic.available ? summarize.traffic(traffic.data, span, p.spikeThreshold) : undefined;
    if (t?.spiked && (t.people || bots))
      campaignAsked = rb.step('campaign-check', async () => {
        campaign = await rb.gate('campaign-check', {
          kind: 'manual',
          detail:
            'Traffic rose with the cost. Mark done if a marketing campaign or viral content explains it (the traffic is then left alone), skip if not; check the rate-limit logs for an attack.',
          deadlineMs,
          withdrawWhen: () => closing,
        });
        rb.note(
          'campaign-check',
          campaign
            ? `${campaign.by}: ${campaign.decision === 'done' ? 'campaign or viral content' : 'no campaign'}`
            : 'not answered',
        );
      });
    else
      rb.skip(
        'campaign-check',
        t?.spiked ? 'requests rose without more users or bots: recompute' : 'traffic did not spike',
      );
    // Awaited when the runbook closes; a cancellation meanwhile must not count as unhandled.
    campaignAsked.catch(() => undefined);

    // Step 3: Check Hidden Recompute
    const { triggers, hiddenRatio } = await rb.step('hidden-recompute', async () => {
      const [triggers, hiddenRatio, flags] = await Promise.all([
        act.costTriggers.executeWithOptions({ summary: 'count and cost by trigger_type' }, [{ nowMs, database }]),
        act.costHiddenRatio.executeWithOptions({ summary: 'daily hidden recompute ratio, 7 days' }, [
          { nowMs, database },
        ]),
        act.featureFlags.executeWithOptions({ summary: 'auto-save and undo settings' }, [
          { features: ['auto_save_interval_ms', 'undo_rate_limit'], database },
        ]),
      ]);
      if (!triggers.available || !hiddenRatio.available) {
        const down = !triggers.available ? triggers : hiddenRatio;
        rb.sourceUnavailable('hidden-recompute', telemetryDown(down));
        return { triggers, hiddenRatio };
      }
      const h = summarize.hidden(hiddenRatio.data, p.spikeThreshold);
      rb.finding({
        step: 'hidden-recompute',
        level: h.increased ? 'warning' : 'info',
        summary: `${h.summary}${flags.available ? `; settings: ${summarize.flags(flags.data)}` : ''}`,
        evidence: {
          triggers: triggers.data,
          hiddenRatio: hiddenRatio.data,
          flags: flags.available ? flags.data : flags.reason,
        },
      });
      if (h.increased) {
        const changes = await act.recentChanges.executeWithOptions({ summary: 'recent UX changes' }, [
          { service: input.service, environment: input.environment, fromMs: spikeFrom - 24 * HOUR, toMs: nowMs },
        ]);
        rb.note(
          'hidden-recompute',
          `hidden ratio up: check UX changes (undo, auto-save), retry loops, auto-save frequency; ${summarize.changes(changes)}`,
        );
      }
      return { triggers, hiddenRatio };
    });

    // Step 4: Check Token Usage
    const { tokens, models } = await rb.step('token-usage', async () => {
      const [tokens, models] = await Promise.all([
        act.costTokens.executeWithOptions({ summary: 'average and p95 tokens per hour' }, [{ nowMs, database }]),
        act.costModelUsage.executeWithOptions({ summary: 'tokens and cost per model' }, [{ ...span, database }]),
      ]);
      if (!tokens.available) {
        rb.sourceUnavailable('token-usage', telemetryDown(tokens));
        return { tokens, models };
      }
      const t = summarize.tokens(tokens.data, span, p.spikeThreshold);
      rb.finding({
        step: 'token-usage',
        level: t.inputUp || t.outputUp ? 'warning' : 'info',
        summary: t.summary + (models.available ? `; models: ${summarize.models(models.data)}` : ''),
        evidence: { query: tokens.query, rows: tokens.data, models: models.available ? models.data : models.reason },
      });
      const checks = [
        ...(t.inputUp
          ? ['input up: check context window management, context appended not replaced, prompt template changes']
          : []),
        ...(t.outputUp ? ['output up: check model version, temperature/sampling, output format requirements'] : []),
      ];
      if (checks.length) rb.note('token-usage', checks.join('; '));
      return { tokens, models };
    });

    // Step 5: Check Feature Attribution
    const features = await rb.step('feature-attribution', async () => {
      const features = await act.costFeatures.executeWithOptions({ summary: 'daily cost by feature, 7 days' }, [
        { nowMs, database },
      ]);
      if (!features.available) {
        rb.sourceUnavailable('feature-attribution', telemetryDown(features));
        return features;
      }
      const f = summarize.features(features.data);
      rb.finding({
        step: 'feature-attribution',
        level: f.dominant ? 'warning' : 'info',
        summary: f.summary,
        evidence: { query: features.query, rows: features.data },
      });
      if (f.dominant)
        rb.note('feature-attribution', `${f.dominant}: check its recent changes, retry logic and token usage`);
      return features;
    });

    // Step 6: Check Tool Call Failures
    const tools = await rb.step('tool-failures', async () => {
      const tools = await act.costToolFailures.executeWithOptions({ summary: 'tool failures, 48 h' }, [
        { nowMs, database },
      ]);
      if (!tools.available) {
        rb.sourceUnavailable('tool-failures', telemetryDown(tools));
        return tools;
      }
      const t = summarize.tools(tools.data);
      rb.finding({
        step: 'tool-failures',
        level: t.failing.length ? 'warning' : 'info',
        summary: t.summary,
        evidence: { query: tools.query, rows: tools.data },
      });
      if (t.failing.length)
        rb.note(
          'tool-failures',
          `${t.failing.join(', ')}: check the tool's API, retry cost multiplication; consider the circuit breaker`,
        );
      return tools;
    });

    // Step 7: Immediate Mitigation, by the diagnosis
    const result = await rb.step('diagnosis', async () => {
      const result = diagnose();
      rb.state.diagnosis = result.diagnosis;
      rb.note(
        'diagnosis',
        result.diagnosis.causes.map((c) => `${c.cause} (${Math.round(c.score * 100)}% of the extra cost)`).join(', ') ||
          result.diagnosis.primary,
      );
      rb.record('diagnosis', `diagnosis: ${result.diagnosis.primary}`, result.diagnosis);
      const unread = result.diagnosis.sources?.unread ?? [];
      if (result.diagnosis.primary === 'insufficient_data')
        rb.unavailable('diagnosis', `insufficient data: ${unread.map((u) => `${u.source}: ${u.reason}`).join('; ')}`);
      return result;
    });
    const diagnosis = result.diagnosis;
    const featureRows = features.available ? features.data : [];
    const costly = p.capFeature || summarize.costliestFeature(featureRows) || 'expensive_feature';
    const legacyVars = actionVars(p, diagnosis, costly, sources);
    // Each mitigation acts on what its cause found (the regressed feature, the failing tools); the
    // escalation's cost cap and disable on the regressed feature, else capFeature, else the costliest.
    const regressed = diagnosis.causes.find((c) => c.vars?.feature)?.vars?.feature;
    const capOn = summarize.capTarget(regressed, p.capFeature, featureRows);
    const capVars = aimAtCauses ? { ...paramsAsVars(p), feature: capOn.feature } : legacyVars;
    const capAim = (what: string) =>
      aimAtCauses ? `${what} feature ${capOn.feature} (chosen as ${capOn.rule})` : undefined;
    const plan = costMitigationPlan(diagnosis);
    for (const s of COST_SPIKE_STEPS.filter((s) => s.section === MITIGATION && s.kind === 'approval')) {
      if (!plan.includes(s.id)) rb.skip(s.id, 'not indicated by the diagnosis');
    }

    let validated = false;
    let handedOver = false;
    let escalated = false;
    // A window that failed while the cost was not rising: why the escalation did not come.
    let calm: CostTrend | undefined;
    let level = 0;
    while (!validated) {
      const next = plan.shift();
      if (next) {
        if (
          next === 'rate-limit-traffic' &&
          diagnosis.primary === 'traffic_increase' &&
          campaign?.decision === 'done'
        ) {
          rb.skip(next, `expected traffic: ${campaign.by} confirmed a campaign or viral content`);
          continue;
        }
        const cause = diagnosis.causes.find((c) =>
          costMitigationPlan({ primary: c.cause, causes: [c] }).includes(next),
        );
        const vars = aimAtCauses ? { ...paramsAsVars(p), ...cause?.vars } : legacyVars;
        const aim = aimAtCauses
          ? summarize.target(next, vars, featureRows, tools.available ? tools.data : [])
          : undefined;
        const outcome = await mitigations.apply({
          step: next,
          temporary: temporary.has(next),
          detail: summarize.proposal(next, vars, cause?.evidence ?? [], aim),
          deadlineMs,
          vars,
          keepReason: KEPT_BECAUSE[next],
        });
        if (outcome !== 'applied') continue;
      } else {
        rb.setStatus('escalated');
        await rb.escalate(`no mitigation left for ${diagnosis.primary}: responders must mitigate by hand`, ++level);
        const handled = await rb.gate('manual-mitigation', {
          kind: 'manual',
          detail: evidenceRules
            ? 'Mitigate by hand, then mark done to validate; skip leaves the incident open until someone marks it done.'
            : 'Mitigate by hand, then mark done to validate; skip closes the runbook and leaves the incident to responders.',
          deadlineMs,
        });
        if (handled?.decision === 'skip' && evidenceRules) {
          // Skipped is not closed: the incident stays open until a responder has mitigated by hand.
          rb.note('manual-mitigation', `skipped by ${handled.by}: open until a responder marks it done`);
          await rb.gate('manual-mitigation', {
            kind: 'manual',
            decisions: ['done'],
            detail: 'Left open: mark done once mitigated by hand; the validation window then starts.',
            deadlineMs,
          });
        } else if (handled?.decision === 'skip') {
          rb.state.resolution = `handed to responders by ${handled.by}`;
          handedOver = true;
          break;
        }
      }
      validated = await validate();
      const then = () =>
        plan[0] ? `${plan[0]} waits for approval` : 'responders mitigate by hand (manual-mitigation)';
      // Escalation: "if costs are still rising after mitigation". Above the limit but flat or
      // falling, the next mitigation (or responders) comes without the cost cap.
      const notRising = !validated && !escalated && trend && trend.slope !== null && !trend.rising ? trend : undefined;
      if (notRising) {
        calm = notRising;
        whatNext(`${then()}; no cost cap: the cost is above the limit but not rising`);
        rb.note(
          'enable-cost-cap',
          `not escalated: the cost after ${applied().join(', ') || 'mitigation'} is ${notRising.summary}`,
        );
        rb.record(
          'not_rising',
          `cost above the limit after mitigation but not rising: ${notRising.summary}`,
          notRising,
        );
      } else if (!validated && !escalated) {
        escalated = true;
        if (evidenceRules) whatNext('the escalation: cost cap, leadership, and a feature disable if critical');
        await escalation(++level);
        validated = await validate();
        if (!validated && evidenceRules) whatNext(then());
      } else if (!validated) {
        if (evidenceRules) whatNext(then());
        rb.setStatus('escalated');
        await rb.escalate('cost still above baseline after mitigation: offering the next mitigation', ++level);
      }
    }
    if (validated) {
      await mitigations.removeTemporary('remove-temporary-mitigations', 'cost back within baseline');
    } else {
      rb.skip('remove-temporary-mitigations', 'left in place: the incident was handed to responders');
    }
    if (!escalated)
      for (const id of ['enable-cost-cap', 'alert-leadership', 'disable-feature'])
        rb.skip(
          id,
          calm
            ? `not escalated: above the limit but not rising after mitigation (${calm.summary}); the cost came back later`
            : 'costs fell after mitigation',
        );
    // Every step ends with an outcome: what the held window made unnecessary says so.
    if (validated && evidenceRules)
      for (const id of [...plan, 'manual-mitigation'])
        if (rb.state.steps.find((x) => x.id === id)?.status === 'pending')
          rb.skip(id, 'not needed: the cost came back');
    const used = rb.state.mitigations.filter((m) => m.status === 'applied' || m.status === 'undone').map((m) => m.step);
    const back = confirmedBy
      ? `the validation window had too little data and ${confirmedBy} confirmed the cost back by hand`
      : `cost back within ${Math.round(p.spikeThreshold * 100)}% of baseline`;
    const resolution =
      rb.state.resolution ??
      (used.length ? `mitigated by ${used.join(', ')}; ${back}` : evidenceRules ? back : 'cost back within baseline');
    return await finish(diagnosis, resolution, validated && !handedOver);

    function diagnose(): CostSpikeDiagnosis {
      const missing = [hourly, traffic, triggers, hiddenRatio, tokens, features, tools].filter((o) => !o.available);
      if (!hourly.available || missing.length > 0) {
        const reasons = [...new Set(missing.map((o) => (o.available ? '' : o.reason)))].join('; ');
        return {
          ...(confirmation ?? diagnoseCostSpike(NO_COST_EVIDENCE, opts)),
          diagnosis: evidenceRules
            ? {
                primary: 'insufficient_data',
                causes: [],
                sources: {
                  read: [],
                  unread: [{ source: `telemetry (${missing.length} of 7 diagnostics)`, reason: reasons }],
                },
              }
            : {
                primary: 'unknown',
                causes: [
                  {
                    cause: 'unknown',
                    score: 0,
                    evidence: [`telemetry incomplete (${missing.length} of 7 diagnostics unavailable): ${reasons}`],
                    mitigation: '',
                  },
                ],
              },
        };
      }
      const evidence: CostSpikeEvidence = {
        hourlyCost: hourly.data,
        traffic: traffic.available ? traffic.data : [],
        triggers: triggers.available ? triggers.data : [],
        hiddenRatio: hiddenRatio.available ? hiddenRatio.data : [],
        tokens: tokens.available ? tokens.data : [],
        features: features.available ? features.data : [],
        toolFailures: tools.available ? tools.data : [],
        history: history.available ? history.data : undefined,
        sources: sources.available ? sources.data : undefined,
        models: models.available ? models.data : undefined,
      };
      return diagnoseCostSpike(evidence, opts);
    }

    async function escalation(lvl: number): Promise<void> {
      rb.setStatus('escalated');
      await rb.escalate(
        `costs still rising after mitigation${risingRule && trend ? ` (${trend.summary})` : ''}: cost cap, leadership, feature disable`,
        lvl,
      );
      // Leadership hears when the cost cap is decided, and within the hour at the latest.
      let capDecided = false;
      const cap = mitigations
        .apply({
          step: 'enable-cost-cap',
          temporary: false,
          detail: summarize.proposal(
            'enable-cost-cap',
            capVars,
            [
              `cost still above baseline after ${applied().join(', ') || 'mitigation'}`,
              ...(risingRule && trend ? [`cost ${trend.summary}`] : []),
            ],
            capAim('Cap'),
          ),
          deadlineMs,
          vars: capVars,
          keepReason: KEPT_BECAUSE['enable-cost-cap'],
        })
        .finally(() => (capDecided = true));
      const leadership = (async () => {
        await condition(() => capDecided, toMs(p.leadershipAlertWithin));
        await rb.step('alert-leadership', async () => {
          const sent = await act.notify.executeWithOptions({ summary: 'alert engineering leadership' }, [
            {
              target: p.leadershipTarget,
              text: `:money_with_wings: Inference cost spike on ${input.service} (${input.environment}) still rising after mitigation. Diagnosis: ${diagnosis.primary}. Cost cap: ${rb.state.mitigations.find((m) => m.step === 'enable-cost-cap')?.status ?? 'pending'}. Incident ${workflowInfo().workflowId}`,
            },
          ]);
          // Done when leadership was told; a message that went nowhere is a failed alert.
          if (sent.delivered.length) rb.note('alert-leadership', `told ${sent.delivered.join(', ')}`);
          else
            rb.fail(
              'alert-leadership',
              `NOT delivered: ${[...sent.failed, ...sent.skipped].join('; ') || 'no target'}`,
            );
        });
      })();
      await Promise.all([cap, leadership]);
      // "If critical": the incident's severity says so (P1, from an Alertmanager severity=critical).
      if (!['P1', 'critical'].includes(input.severity)) {
        rb.skip('disable-feature', `not critical (severity ${input.severity})`);
        return;
      }
      await mitigations.apply({
        step: 'disable-feature',
        temporary: true,
        detail: summarize.proposal(
          'disable-feature',
          capVars,
          [`cost ${Math.round(result.increase * 100)}% above baseline and still rising`],
          capAim('Disable'),
        ),
        deadlineMs,
        vars: capVars,
      });
    }
  } catch (err) {
    return await mitigations.abandon(err);
  }

  /** A failed window says what comes next, and who must act, before anything else runs. */
  function whatNext(then: string): void {
    const v = rb.state.steps.find((x) => x.id === 'validate-cost');
    rb.note('validate-cost', `${v?.note ?? 'the cost did not come back'}. Next: ${then}`);
  }

  function applied(): string[] {
    return rb.state.mitigations.filter((m) => m.status === 'applied').map((m) => m.step);
  }

  /** Validation: the cost rate since the mitigation, against the baseline of the hours it covers. */
  async function validate(): Promise<boolean> {
    rb.setStatus('validating');
    const since = Date.now();
    trend = null;
    // The cost per hour that failed the window; none when it failed for want of data (a responder escalated).
    let over: { perHour: number; atMs: number } | null = null;
    const window = await rb.step('validate-cost', async () => {
      const past = await act.costHistory.executeWithOptions({ summary: 'baseline hours' }, [
        { nowMs: Date.now() + toMs(p.validationWindow) + HOUR, days: p.baselineDays + 1, database },
      ]);
      const limitNow = () => {
        const baseline = past.available ? summarize.baselineAt(past.data, Date.now(), p.baselineDays) : null;
        return baseline === null ? null : { baseline, limit: baseline * (1 + p.spikeThreshold) };
      };
      const costSince = () =>
        act.costRate.executeWithOptions({ summary: 'cost per hour since the mitigation' }, [
          { sinceMs: since, database },
        ]);
      const unreadable = (rate: Observed<unknown>) =>
        !rate.available ? rate.reason : past.available ? 'no baseline hours' : past.reason;
      let previous: number | null = null;
      if (!evidenceRules) {
        const result = await validationWindow(rb, 'validate-cost', {
          windowMs: toMs(p.validationWindow),
          intervalMs: toMs(p.validationInterval),
          failAfterBreaches: p.failAfterBreaches,
          check: async () => {
            const rate = await costSince();
            const l = limitNow();
            if (!rate.available || l === null)
              return { ok: false, breach: false, value: null, summary: `cost rate unavailable: ${unreadable(rate)}` };
            const rising = previous !== null && rate.data.perHour > previous;
            previous = rate.data.perHour;
            return {
              ok: rate.data.perHour <= l.limit,
              breach: rate.data.perHour > l.limit && rising,
              value: rate.data.perHour,
              summary: `$${rate.data.perHour.toFixed(2)}/h over ${Math.round(rate.data.seconds)} s (baseline $${l.baseline.toFixed(2)}/h, limit $${l.limit.toFixed(2)}/h)`,
            };
          },
        });
        if (result.passed) rb.note('validate-cost', result.reason);
        else rb.fail('validate-cost', result.reason);
        return result.passed;
      }
      // The whole window: the cost per hour since the mitigation, from enough events to judge it.
      const result = await holdWindow(rb, 'validate-cost', {
        windowMs: toMs(p.validationWindow),
        intervalMs: toMs(p.validationInterval),
        failAfterBreaches: p.failAfterBreaches,
        deadlineMs,
        check: async () => {
          const rate = await costSince();
          const l = limitNow();
          if (!rate.available || l === null)
            return { value: null, breach: false, summary: `cost rate unavailable: ${unreadable(rate)}` };
          if (rate.data.requests === 0)
            return { value: null, breach: false, summary: 'no inference events since the mitigation' };
          const rising = previous !== null && rate.data.perHour > previous;
          previous = rate.data.perHour;
          over = rate.data.perHour > l.limit ? { perHour: rate.data.perHour, atMs: Date.now() } : null;
          return {
            value: rate.data.perHour,
            breach: rate.data.perHour > l.limit && rising,
            summary: `$${rate.data.perHour.toFixed(2)}/h from ${rate.data.requests} events over ${Math.round(rate.data.seconds)} s (limit $${l.limit.toFixed(2)}/h)`,
          };
        },
        whole: async () => {
          const rate = await costSince();
          const l = limitNow();
          if (!rate.available || l === null)
            return { value: null, enoughData: false, ok: false, summary: `unavailable: ${unreadable(rate)}` };
          const { perHour, requests } = rate.data;
          over = requests >= p.minValidationRequests && perHour > l.limit ? { perHour, atMs: Date.now() } : null;
          return {
            value: requests ? perHour : null,
            enoughData: requests >= p.minValidationRequests,
            ok: perHour <= l.limit,
            summary: `${requests ? `$${perHour.toFixed(2)}/h from ${requests} events` : 'no inference events since the mitigation'} (baseline $${l.baseline.toFixed(2)}/h, limit $${l.limit.toFixed(2)}/h, at least ${p.minValidationRequests} events)`,
          };
        },
      });
      if (result.verdict === 'passed') rb.note('validate-cost', result.reason);
      else rb.fail('validate-cost', result.reason);
      confirmedBy = result.confirmedBy;
      if (result.verdict !== 'passed' && over && risingRule) {
        // "Still rising": the slope over the last whole hours and the stretch since the mitigation.
        const history = await act.costHistory.executeWithOptions(
          { summary: `hourly cost, the last ${p.risingHours} h and their baselines` },
          [{ nowMs: over.atMs, days: p.baselineDays + 1, database }],
        );
        if (history.available) {
          const course = summarize.costCourse(history.data, { sinceMs: since, ...over }, p.risingHours, p.baselineDays);
          trend = costTrend(course, p.risingMinSlope);
        }
        rb.fail(
          'validate-cost',
          `${result.reason}; ${trend ? `the cost is ${trend.summary}` : `whether it is still rising is unknown: ${telemetryDown(history)}`}`,
        );
      }
      return result.verdict === 'passed';
    });
    return window;
  }

  // Step 8: Document and Monitor
  async function finish(diagnosis: Diagnosis, resolution: string, resolved: boolean): Promise<RunbookResult> {
    closing = true;
    rb.state.diagnosis = diagnosis;
    rb.state.resolution = resolution;
    rb.setStatus('follow_up');
    const rule = alertRuleFor(diagnosis, p);
    const followUps = [
      `Verify the fix: cost per hour within ${Math.round(p.spikeThreshold * 100)}% of baseline (${diagnosis.primary})`,
      `Create the alert for this condition: ${rule.name}`,
    ];
    await rb.step('record-root-cause', async () => {
      const top = diagnosis.causes[0];
      await recordPostIncident(
        input.runbook,
        {
          rootCause: top ? `${diagnosis.primary}: ${top.evidence.join('; ')}` : diagnosis.primary,
          impact: summarize.impact(rb.state.findings, startedMs),
          resolution: `${resolution}. Mitigation applied: ${applied().join(', ') || 'none'}. Alert created: no (rule suggested: ${rule.name})`,
          followUps,
        },
        toMs(p.followUpAfter),
      );
    });
    await rb.step('alert-rule', async () => {
      rb.finding({
        step: 'alert-rule',
        level: 'info',
        summary: `suggested alert ${rule.name}: ${rule.expr}`,
        evidence: rule,
      });
      rb.note('alert-rule', `suggested ${rule.name}; not created`);
    });
    await rb.step('schedule-follow-up', async () => {
      const scheduled = await scheduleFollowUp(input, followUps, toMs(p.followUpAfter));
      rb.note(
        'schedule-follow-up',
        scheduled
          ? `due ${new Date(Date.now() + toMs(p.followUpAfter)).toISOString()} (in ${formatMs(toMs(p.followUpAfter))})`
          : 'drill: no follow-up scheduled',
      );
    });
    await campaignAsked;
    rb.setStatus(resolved ? 'resolved' : 'escalated');
    await rb.flush();
    return { status: rb.state.status, diagnosis: rb.state.diagnosis, resolution };
  }
}

function telemetryDown(o: Observed<unknown>): string {
  return o.available ? '' : `telemetry unavailable (${o.query ?? 'query'}): ${o.reason}`;
}

/** The runbook's parameters as action variables; a mitigation adds its cause's (`{feature}`, `{tool}`). */
function paramsAsVars(p: CostSpikeParams): Record<string, string> {
  return { ...paramVars(p), circuitBreakerRecoverySeconds: String(Math.round(toMs(p.circuitBreakerRecovery) / 1000)) };
}

/** Incidents started before cause-targets: every mitigation gets the costliest (or capFeature) feature. */
function actionVars(
  p: CostSpikeParams,
  diagnosis: Diagnosis,
  feature: string,
  sources: Observed<{ topUsers: { name: string }[] }>,
): Record<string, string> {
  const vars: Record<string, string> = { ...paramsAsVars(p), feature };
  // Bots and abuse are limited apart from the people the traffic increase brings.
  if (diagnosis.primary === 'bot_or_abuse') vars.trafficScope = 'suspected_bots';
  if (sources.available)
    vars.topUsers = sources.data.topUsers
      .slice(0, 5)
      .map((u) => u.name)
      .join(',');
  return vars;
}
