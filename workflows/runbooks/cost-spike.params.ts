// Every threshold, window, budget and mitigation value of the Cost Spike document, with its values.
import type { DurationInput } from '../toolkit/duration';

export interface CostSpikeParams {
  /** "Use when: inference costs have spiked unexpectedly (>20% above baseline)". */
  spikeThreshold: number;
  /** Hours above the threshold in a row that make the increase sustained, "not a 1-hour blip". */
  sustainedHours: number;
  /** The baseline: the same hour on each of this many previous days. */
  baselineDays: number;
  /** Validation: cost per hour back within the threshold of baseline for this long... */
  validationWindow: DurationInput;
  /** ...checked this often. */
  validationInterval: DurationInput;
  /** Checks in a row with the cost still rising that end the window early. */
  failAfterBreaches: number;
  /** Fewer inference events than this since the mitigation cannot show the cost is back: a responder judges. */
  minValidationRequests: number;
  /**
   * Escalation "if costs are still rising after mitigation": the cost's slope over this many whole
   * hours and the stretch since the mitigation...
   */
  risingHours: number;
  /** ...at least this many baselines per hour (0.05: 5 % of the usual cost each hour); flat or falling does not escalate. */
  risingMinSlope: number;
  /** Escalation: the seed's cost cap, USD in the last hour. */
  costCapUsd: number;
  /** Escalation: "Within 1 hour: alert engineering leadership". */
  leadershipAlertWithin: DurationInput;
  /** Who "engineering leadership" is: a notification target in the config. */
  leadershipTarget: string;
  /**
   * The feature the cost cap and a temporary disable act on when the diagnosis found no regressed
   * feature; empty: the costliest feature.
   */
  capFeature: string;
  /** Hidden recompute: auto-save interval (ms), was 5000. */
  autoSaveIntervalMs: number;
  previousAutoSaveIntervalMs: number;
  /** Hidden recompute: undo rate limit. */
  undoRateLimit: string;
  /** Context bloat: keep the last N messages. */
  maxContextMessages: number;
  /** Tool retries: max retries, was 5. */
  maxToolRetries: number;
  previousMaxToolRetries: number;
  /** Tool retries: circuit breaker after this many failures, open for this long. */
  circuitBreakerFailures: number;
  circuitBreakerRecovery: DurationInput;
  /** Specific feature: per-user throttle. */
  featureThrottle: string;
  /** Traffic or bots: the rate limit and what it applies to (a feature_flags row `<scope>_rate_limit`). */
  trafficRateLimit: string;
  trafficScope: string;
  /** Output growth: the output cap while the model or prompt change is rolled back. */
  maxOutputTokens: number;
  /** Time each step should take, from the document's headings ("Step 3: ... (10 min)"). */
  stepBudgets: Record<string, DurationInput>;
  /** A drill over past data: the diagnostics read the telemetry as of this ISO time; empty: now. */
  asOf: string;
  /** How long an approval may wait before the next tier is paged. */
  approvalDeadline: DurationInput;
  /** "Schedule follow-up to verify fix". */
  followUpAfter: DurationInput;
}

export const COST_SPIKE_DEFAULTS: CostSpikeParams = {
  spikeThreshold: 0.2,
  sustainedHours: 2,
  baselineDays: 7,
  validationWindow: '1h',
  validationInterval: '5m',
  failAfterBreaches: 3,
  minValidationRequests: 10,
  risingHours: 3,
  risingMinSlope: 0.05,
  costCapUsd: 1000,
  leadershipAlertWithin: '1h',
  leadershipTarget: 'leadership',
  capFeature: '',
  autoSaveIntervalMs: 30000,
  previousAutoSaveIntervalMs: 5000,
  undoRateLimit: '3/minute',
  maxContextMessages: 10,
  maxToolRetries: 2,
  previousMaxToolRetries: 5,
  circuitBreakerFailures: 3,
  circuitBreakerRecovery: '60s',
  featureThrottle: '10/hour',
  trafficRateLimit: '60/hour',
  trafficScope: 'api',
  maxOutputTokens: 1024,
  stepBudgets: {
    'confirm-spike': '5m',
    'rule-out-traffic': '5m',
    'hidden-recompute': '10m',
    'token-usage': '10m',
    'feature-attribution': '10m',
    'tool-failures': '5m',
  },
  asOf: '',
  approvalDeadline: '15m',
  followUpAfter: '7d',
};
