// Drill scenarios: a synthetic incident for a runbook, and what the runbook should conclude from
// it. The incident is made of real data in places only the drill reads: generated telemetry in a
// scratch database, a change event for a drill-only service with a local endpoint answering
// Prometheus' API with the 5xx ratio that rose after it, a local endpoint answering the Messages
// API the way a failing provider does.
import type { Scenario as TelemetryScenario } from '../../activities/telemetry-scenarios';

export const DRILL_RUNBOOKS = ['api-error-budget', 'cost-spike', 'llm-provider-incident'] as const;
export type DrillRunbook = (typeof DRILL_RUNBOOKS)[number];

export type DrillSetup =
  /** `endsAt`: the ISO time the generated telemetry ends (absent in drills started before it existed: now). */
  | { kind: 'telemetry'; scenario: TelemetryScenario; rows: number; endsAt?: string }
  /** A change 10 minutes ago, and the drill's Prometheus: 5xx on /v1/chat at 12 % from it on, 0 before. */
  | { kind: 'change'; change: 'deploy' | 'config' | 'secret' | 'migration' | 'flag'; description: string }
  | { kind: 'provider'; status: 429 | 500 | 529 };

export interface DrillScenario {
  runbook: DrillRunbook;
  name: string;
  description: string;
  setup: DrillSetup;
  /** The diagnosis the runbook must reach, and the mitigations it may offer first. */
  expect: { diagnosis: string; mitigation: string[] };
  /** Shorter waits than the seed's, so a drill takes seconds (each one still runs). */
  params?: Record<string, unknown>;
}

/**
 * When a cost-spike drill's incident happens: its telemetry ends here and the runbook reads it as of
 * here (`asOf`), whenever the drill runs, so the same seeded rows make the same incident every time.
 * Ending at the wall clock made the rows differ from minute to minute (the last, partial hour shifts
 * every hour's share, so every row changes) and set the spike against whatever baseline the weekday
 * brought: the tool retry storm's +54 % on a Sunday is +18 % over the mean of that hour on the 7 days
 * before, under the 20 % threshold, so drills passed or failed by the minute and the day.
 * A whole hour on a weekday afternoon: every hour read is whole and the baseline days are like it.
 */
export const COST_SPIKE_DRILL_ENDS_AT = '2026-03-10T15:00:00.000Z';

const costSpike = (
  scenario: TelemetryScenario,
  description: string,
  mitigation: string[],
  name = scenario.replaceAll('_', '-'),
): DrillScenario => ({
  runbook: 'cost-spike',
  name,
  description,
  setup: { kind: 'telemetry', scenario, rows: 60_000, endsAt: COST_SPIKE_DRILL_ENDS_AT },
  expect: { diagnosis: scenario, mitigation },
  params: { asOf: COST_SPIKE_DRILL_ENDS_AT },
});

const apiErrors = (
  name: string,
  change: Extract<DrillSetup, { kind: 'change' }>['change'],
  description: string,
  diagnosis: string,
  mitigation: string,
): DrillScenario => ({
  runbook: 'api-error-budget',
  name,
  description,
  setup: { kind: 'change', change, description },
  expect: { diagnosis, mitigation: [mitigation] },
});

const provider = (
  name: string,
  status: 429 | 500 | 529,
  description: string,
  diagnosis: string,
  mitigation: string[],
): DrillScenario => ({
  runbook: 'llm-provider-incident',
  name,
  description,
  setup: { kind: 'provider', status },
  expect: { diagnosis, mitigation },
  params: { overloadedRetryAfter: '1s', serverErrorBackoff: '1s', serverErrorRetries: 2, rateLimitDefaultWait: '1s' },
});

export const DRILL_SCENARIOS: DrillScenario[] = [
  apiErrors(
    'deployment-regression',
    'deploy',
    'a deploy 10 minutes ago, and 5xx on /v1/chat at 12 % since',
    'deployment_regression',
    'rollback-deploy',
  ),
  apiErrors(
    'config-drift',
    'secret',
    'a rotated secret 10 minutes ago, and 5xx on /v1/chat at 12 % since',
    'config_drift',
    'restore-secret',
  ),
  apiErrors(
    'bad-migration',
    'migration',
    'a schema migration 10 minutes ago, and 5xx on /v1/chat at 12 % since',
    'database_errors',
    'migration-rollback',
  ),
  costSpike('hidden_recompute', 'auto-save recomputing on every keystroke', ['reduce-auto-save', 'rate-limit-undo']),
  costSpike('context_bloat', 'prompts carrying ever longer context', ['cap-context']),
  costSpike('output_growth', 'answers growing after a model change', ['rollback-model-or-cap-output']),
  costSpike('feature_regression', 'one feature calling the model far more often', ['throttle-feature']),
  costSpike('tool_retry_storm', 'a failing tool retried over and over', ['reduce-tool-retries', 'circuit-breaker']),
  costSpike('traffic_increase', 'more users, no campaign anyone knows of', ['rate-limit-traffic']),
  costSpike('bot_or_abuse', 'a scraper hammering the API', ['rate-limit-traffic']),
  provider('overloaded', 529, 'the API answers 529 overloaded_error', 'overloaded', ['fallback-mode']),
  provider('outage', 500, 'the API answers 500 api_error', 'server_error', ['fallback-mode']),
  provider('rate-limited', 429, 'the API answers 429 rate_limit_error', 'rate_limited', ['provider-circuit-breaker']),
];

export function findScenario(runbook: string, name: string): DrillScenario | undefined {
  return DRILL_SCENARIOS.find((s) => s.runbook === runbook && s.name === name);
}

export function scenariosOf(runbook: string): string[] {
  return DRILL_SCENARIOS.filter((s) => s.runbook === runbook).map((s) => s.name);
}
