// A cost-spike drill must not depend on the clock: its synthetic incident, prepared at any moment
// (a weekday or a weekend, a few minutes past the hour or not), is read by the runbook as the same
// incident and reaches the scenario's diagnosis and first mitigation. The wall clock is pinned here
// (Date is mocked while the drill's setup runs), and the runbook's reads are made as it makes them:
// the 48 hours and the baseline days, the spike's span, then the other diagnostics, all at the time
// the runbook reads (its `asOf`, else the moment it starts, just after the setup).
import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import { Pool } from 'pg';
import { parseConfig } from '../../config/load';
import { createCostActivities } from '../../activities/cost';
import { createDrillActivities } from '../../activities/drills';
import type { Observed } from '../../activities/http';
import { DRILL_SCENARIOS, findScenario, type DrillScenario } from '../../workflows/drills/scenarios';
import { COST_SPIKE_DEFAULTS } from '../../workflows/runbooks/cost-spike.params';
import {
  costMitigationPlan,
  diagnoseCostSpike,
  NO_COST_EVIDENCE,
  type CostSpikeDiagnosis,
  type CostSpikeEvidence,
} from '../../workflows/runbooks/cost-spike.diagnose';
import { requireEnv, testDeps } from '../support/harness';

const HOUR = 3_600_000;
/** Wall clocks a drill ran at: a Sunday evening a few minutes past the hour (failures seen), later, a weekday. */
const WALL_CLOCKS = [
  '2026-11-29T19:05:07Z',
  '2026-11-29T19:07:07Z',
  '2026-11-29T20:03:07Z',
  '2026-11-29T20:08:07Z',
  '2026-11-29T20:14:07Z',
  '2026-12-01T15:05:07Z',
].map((t) => new Date(t));

describe('cost-spike drills do not depend on the clock', () => {
  let pool: Pool;
  let acts: ReturnType<typeof createDrillActivities> & ReturnType<typeof createCostActivities>;
  let n = 0;

  before(() => {
    pool = new Pool({ connectionString: requireEnv('DATABASE_URL'), max: 4 });
    const deps = testDeps(parseConfig({}, 'test config', {}), pool, {});
    acts = { ...createDrillActivities(deps), ...createCostActivities(deps) };
  });
  after(() => pool?.end());

  const data = <T>(o: Observed<T>): T => {
    if (!o.available) throw new Error(`${o.query}: ${o.reason}`);
    return o.data;
  };

  /** The drill's setup at `wall`, then the cost-spike runbook's reads and diagnosis, then the teardown. */
  async function drillAt(wall: Date, s: DrillScenario): Promise<CostSpikeDiagnosis> {
    const drillId = `clock${process.pid}x${n++}`;
    mock.timers.enable({ apis: ['Date'], now: wall });
    let prepared: Awaited<ReturnType<typeof acts.prepareDrill>>;
    try {
      prepared = await acts.prepareDrill({ drillId, setup: s.setup });
    } finally {
      mock.timers.reset();
    }
    try {
      const database = prepared.context.telemetryDatabase;
      assert.ok(database, prepared.detail);
      const asOf = (s.params as { asOf?: string } | undefined)?.asOf;
      // The runbook reads as of its asOf, else from when it starts: half a minute after the setup began.
      const nowMs = asOf ? Date.parse(asOf) : wall.getTime() + 30_000;
      const p = COST_SPIKE_DEFAULTS;
      const opts = {
        now: nowMs,
        threshold: p.spikeThreshold,
        sustainedHours: p.sustainedHours,
        baselineDays: p.baselineDays,
      };
      const hourlyCost = data(await acts.costByHour({ nowMs, database }));
      const history = data(await acts.costHistory({ nowMs, days: p.baselineDays + 2, database }));
      const confirmation = diagnoseCostSpike({ ...NO_COST_EVIDENCE, hourlyCost, history }, opts);
      const fromMs = confirmation.startedAt ? Date.parse(confirmation.startedAt) : nowMs - 8 * HOUR;
      const span = { fromMs, toMs: nowMs, database };
      const evidence: CostSpikeEvidence = {
        hourlyCost,
        history,
        traffic: data(await acts.costTraffic({ nowMs, database })),
        sources: data(await acts.costTrafficSources(span)),
        triggers: data(await acts.costTriggers({ nowMs, database })),
        hiddenRatio: data(await acts.costHiddenRatio({ nowMs, database })),
        tokens: data(await acts.costTokens({ nowMs, database })),
        models: data(await acts.costModelUsage(span)),
        features: data(await acts.costFeatures({ nowMs, database })),
        toolFailures: data(await acts.costToolFailures({ nowMs, database })),
      };
      // Through JSON, as the activities' results reach the workflow.
      return diagnoseCostSpike(JSON.parse(JSON.stringify(evidence)) as CostSpikeEvidence, opts);
    } finally {
      await acts.finishDrill({ drillId, setup: s.setup });
    }
  }

  const verdict = (r: CostSpikeDiagnosis) => ({
    confirmed: r.confirmed,
    startedAt: r.startedAt,
    diagnosis: r.diagnosis.primary,
    mitigation: costMitigationPlan(r.diagnosis)[0] ?? null,
  });

  test('tool-retry-storm reaches the same diagnosis whenever it runs', async () => {
    const s = findScenario('cost-spike', 'tool-retry-storm');
    assert.ok(s);
    const seen: { wall: string; verdict: ReturnType<typeof verdict> }[] = [];
    for (const wall of WALL_CLOCKS) seen.push({ wall: wall.toISOString(), verdict: verdict(await drillAt(wall, s)) });
    const report = JSON.stringify(seen, null, 1);
    for (const { verdict: v } of seen) {
      assert.equal(v.diagnosis, s.expect.diagnosis, report);
      assert.ok(s.expect.mitigation.includes(v.mitigation ?? ''), report);
    }
    // The same incident, read the same way, whatever the wall clock said.
    for (const { verdict: v } of seen) assert.deepEqual(v, seen[0].verdict, report);
  });

  for (const s of DRILL_SCENARIOS.filter((x) => x.runbook === 'cost-spike'))
    test(`${s.name} reaches its conclusion on a Sunday a few minutes past the hour`, async () => {
      const r = await drillAt(new Date('2026-11-29T20:03:07Z'), s);
      const summary = JSON.stringify({ ...verdict(r), causes: r.diagnosis.causes.map((c) => [c.cause, c.score]) });
      assert.equal(r.diagnosis.primary, s.expect.diagnosis, summary);
      assert.ok(s.expect.mitigation.includes(costMitigationPlan(r.diagnosis)[0]), summary);
    });
});
