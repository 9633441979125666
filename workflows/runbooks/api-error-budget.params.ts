// Every threshold and window of the API Error Budget document, with the document's values.
import type { DurationInput } from '../toolkit/duration';

export interface ApiErrorBudgetParams {
  /** Related alert: 5xx > 1 %. A route above this is "elevated". */
  alertThreshold: number;
  /** Validation: the 5xx ratio must drop below 0.2 %... */
  validationThreshold: number;
  /** ...over the next 15 minutes. */
  validationWindow: DurationInput;
  /** How often the window checks the ratio. */
  validationInterval: DurationInput;
  /** Checks in a row back above the alert threshold that end the window early. */
  failAfterBreaches: number;
  /** Fewer requests than this over the window cannot show a ratio below the target: a responder judges. */
  minValidationRequests: number;
  /** Deployments or configuration changes "within the past hour" before the alert started. */
  recentChangesWindow: DurationInput;
  /** A change counts toward a cause only when the 5xx ratio rose after it, from this long before it. */
  changeBaseline: DurationInput;
  /** A human acknowledges the page within this, else the next tier is paged. */
  acknowledgeWithin: DurationInput;
  /** How long an approval may wait before the next tier is paged. */
  approvalDeadline: DurationInput;
  /** An error-log minute this many times the window's median is a "new error spike". */
  logSpikeFactor: number;
  /** When the post-incident follow-up reminder fires. */
  followUpAfter: DurationInput;
}

export const API_ERROR_BUDGET_DEFAULTS: ApiErrorBudgetParams = {
  alertThreshold: 0.01,
  validationThreshold: 0.002,
  validationWindow: '15m',
  validationInterval: '1m',
  failAfterBreaches: 3,
  minValidationRequests: 100,
  recentChangesWindow: '1h',
  changeBaseline: '15m',
  acknowledgeWithin: '5m',
  approvalDeadline: '15m',
  logSpikeFactor: 3,
  followUpAfter: '7d',
};
