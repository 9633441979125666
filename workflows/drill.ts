// A drill: a runbook run against a synthetic incident with nothing changed and nobody notified.
// The runbook runs as it would for real, under a `drill/` id: gates answer themselves, and it
// stops where the first mitigation would be asked for. The report says whether it reached the
// scenario's diagnosis and mitigation, and how long each step took.
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  executeChild,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PreparedDrill } from '../activities/drills';
import { DRILL_PREFIX, WORKFLOW_TYPES, type RunbookResult } from './definitions';
import { findScenario, scenariosOf, type DrillRunbook } from './drills/scenarios';

const act = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { maximumAttempts: 3 } });
// Generating a scenario's telemetry writes tens of thousands of rows.
const setup = proxyActivities<Activities>({ startToCloseTimeout: '10m', retry: { maximumAttempts: 2 } });

export interface DrillInput {
  runbook: DrillRunbook;
  scenario: string;
  /** A notification target told when the drill fails (config drills.notifyOnFailure). */
  notify?: string;
}

export interface DrillReport {
  runbook: DrillRunbook;
  scenario: string;
  description: string;
  setup: string;
  incident: string;
  passed: boolean;
  expected: { diagnosis: string; mitigation: string[] };
  reached: { diagnosis: string | null; mitigation: string | null };
  diagnosisReached: boolean;
  mitigationReached: boolean;
  resolution: string;
  totalMs: number;
  steps: { id: string; title: string; status: string; durationMs: number | null }[];
}

export async function runbookDrill({ runbook, scenario, notify }: DrillInput): Promise<DrillReport> {
  const s = findScenario(runbook, scenario);
  if (!s)
    throw ApplicationFailure.nonRetryable(
      `no drill scenario "${scenario}" for ${runbook}; known: ${scenariosOf(runbook).join(', ')}`,
      'UnknownScenario',
    );
  const drillId = workflowInfo().runId.replace(/-/g, '').slice(0, 12);
  const incident = `${DRILL_PREFIX}${runbook}/${scenario}/${drillId}`;
  let prepared: PreparedDrill;
  let startedMs: number;
  let result: RunbookResult;
  // Taken down whatever happens, a half-made setup included.
  try {
    prepared = await setup.prepareDrill({ drillId, setup: s.setup });
    startedMs = Date.now();
    const input = await act.incidentInput({
      req: {
        runbook,
        service: prepared.service,
        environment: prepared.environment,
        params: s.params,
        source: 'drill',
        startedBy: `drill ${scenario}`,
      },
      key: drillId,
    });
    try {
      result = await executeChild(WORKFLOW_TYPES[runbook] as string, {
        workflowId: incident,
        args: [{ ...input, drill: { scenario, ...prepared.context } }],
        workflowExecutionTimeout: '1h',
        staticSummary: `drill ${runbook} · ${scenario} (nothing is changed)`,
      });
    } catch (err) {
      // A runbook that fails or runs past the hour is a failed drill, with a report saying so.
      if (!(err instanceof ChildWorkflowFailure)) throw err;
      result = {
        status: 'failed',
        diagnosis: null,
        resolution: `the runbook did not finish: ${err.cause?.message ?? err.message}`,
      };
    }
  } finally {
    await CancellationScope.nonCancellable(() => setup.finishDrill({ drillId, setup: s.setup }));
  }
  const totalMs = Date.now() - startedMs;
  const steps = await act.incidentSteps({ workflowId: incident });
  const reached = { diagnosis: result.diagnosis?.primary ?? null, mitigation: result.drillMitigation ?? null };
  const diagnosisReached = reached.diagnosis === s.expect.diagnosis;
  const mitigationReached = reached.mitigation !== null && s.expect.mitigation.includes(reached.mitigation);
  const report: DrillReport = {
    runbook,
    scenario,
    description: s.description,
    setup: prepared.detail,
    incident,
    passed: diagnosisReached && mitigationReached,
    expected: s.expect,
    reached,
    diagnosisReached,
    mitigationReached,
    resolution: result.resolution,
    totalMs,
    steps: steps.map(({ id, title, status, durationMs }) => ({ id, title, status, durationMs })),
  };
  const info = workflowInfo();
  await act.recordDrill({ workflowId: info.workflowId, runId: info.runId, report });
  // A drill that stops reaching its conclusion means the runbook drifted from the incidents it is for.
  if (!report.passed && notify)
    await act.notify.executeWithOptions({ summary: `drill failed: tell ${notify}` }, [
      {
        target: notify,
        text: `:test_tube: Drill ${runbook} · ${scenario} FAILED: diagnosis ${reached.diagnosis ?? 'none'} (expected ${s.expect.diagnosis}), mitigation ${reached.mitigation ?? 'none'} (expected ${s.expect.mitigation.join(' or ')}). Incident ${incident}.`,
      },
    ]);
  return report;
}
