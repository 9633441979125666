// The cost-spike diagnosis on each scenario of the generator: the fast diagnostics' rows at a
// pinned `now` go into diagnoseCostSpike, which must confirm the spike (or not, for no_spike),
// name the injected root cause first and propose the seed's mitigation for it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Pool } from 'pg';
import { createTelemetryQueries } from '../../activities/telemetry';
import { generateTelemetry, SCENARIOS, type Scenario } from '../../activities/telemetry-scenarios';
import { costMitigationPlan, diagnoseCostSpike } from '../../workflows/runbooks/cost-spike.diagnose';

const NOW = new Date('2026-03-10T15:27:41.123Z');
const HOUR = 3_600_000;

const EXPECTED: Record<Exclude<Scenario, 'no_spike'>, string[]> = {
  traffic_increase: ['rate-limit-traffic'],
  bot_or_abuse: ['rate-limit-traffic'],
  hidden_recompute: ['reduce-auto-save', 'rate-limit-undo'],
  context_bloat: ['cap-context'],
  output_growth: ['rollback-model-or-cap-output'],
  feature_regression: ['throttle-feature'],
  tool_retry_storm: ['reduce-tool-retries', 'circuit-breaker'],
};

describe('cost-spike diagnosis per scenario', () => {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  after(() => pool.end());
  const q = createTelemetryQueries(pool);

  for (const scenario of SCENARIOS)
    test(scenario, async () => {
      await pool.query('TRUNCATE inference_events, tool_calls');
      await generateTelemetry(pool, { scenario, rows: 60_000, now: NOW });
      const evidence = {
        hourlyCost: await q.hourlyCost(NOW),
        traffic: await q.traffic(NOW),
        triggers: await q.triggers(NOW),
        hiddenRatio: await q.hiddenRatio(NOW),
        tokens: await q.tokens(NOW),
        features: await q.features(NOW),
        toolFailures: await q.toolFailures(NOW),
      };
      const result = diagnoseCostSpike(evidence, { now: NOW.getTime() });
      // Through JSON (as an activity result reaches the workflow) the answer is the same.
      const wire = JSON.parse(JSON.stringify(evidence)) as typeof evidence;
      assert.deepEqual(diagnoseCostSpike(wire, { now: NOW.getTime() }), result);
      const summary = JSON.stringify(
        {
          confirmed: result.confirmed,
          startedAt: result.startedAt,
          increase: result.increase,
          causes: result.diagnosis.causes.map((c) => ({ cause: c.cause, score: c.score, mitigation: c.mitigation })),
        },
        null,
        1,
      );
      if (process.env.COST_SPIKE_VERBOSE) console.log(scenario, summary);
      if (scenario === 'no_spike') {
        assert.equal(result.confirmed, false, summary);
        assert.equal(result.diagnosis.primary, 'no spike');
        assert.deepEqual(result.diagnosis.causes, []);
        return;
      }
      assert.equal(result.confirmed, true, summary);
      assert.equal(result.sustained, true);
      assert.ok(result.increase > 0.2, summary);
      // The spike set in 8 hours before NOW (07:27): it shows from that hour or the next.
      const started = Date.parse(result.startedAt ?? '');
      assert.ok(started >= NOW.getTime() - 9 * HOUR && started <= NOW.getTime() - 6 * HOUR, summary);
      assert.equal(result.diagnosis.primary, scenario, summary);
      const top = result.diagnosis.causes[0];
      assert.ok(EXPECTED[scenario].includes(top.mitigation), summary);
      assert.ok(top.score >= 0.4, summary);
      assert.ok(top.evidence.length >= 2 && top.evidence.some((e) => e.includes(result.startedAt ?? '?')), summary);
      assert.equal(costMitigationPlan(result.diagnosis)[0], top.mitigation);
    });
});
