// The parameters every catalogue runbook takes (its document gives the steps).
import type { DurationInput } from '../toolkit/duration';

export interface GuidedParams {
  /** Filled into the document's checks and actions: `{apiUrl}` and the like. */
  vars: Record<string, string>;
  /** How long a manual step or approval waits before the escalation tiers are paged. */
  stepDeadline: DurationInput;
  followUpAfter: DurationInput;
}

export const GUIDED_DEFAULTS: GuidedParams = { vars: {}, stepDeadline: '15m', followUpAfter: '7d' };
