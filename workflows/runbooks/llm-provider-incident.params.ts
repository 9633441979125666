// Every threshold, window and response time of the Anthropic API incident document, with its values.
import type { DurationInput } from '../toolkit/duration';

export interface LlmProviderParams {
  /**
   * Connectivity tests per probe ("Test API connectivity") and the model they ask. The model must be
   * one the API serves (the SDK's model list): a retired id answers 404 and tests nothing.
   */
  probeRequests: number;
  probeModel: string;
  probeTimeout: DurationInput;
  /** P2: high latency, p99 above this. */
  p99LatencyThreshold: DurationInput;
  /** P3: intermittent errors, below this error rate (at or above it, and not all: P2). */
  intermittentErrorRate: number;
  /** P4: the quality signal (config `dataSources.llmProvider.qualityQuery`) below this. */
  qualityThreshold: number;
  /** A responder reports degraded quality (not errors): P4 even when every request succeeds. */
  degradedQuality: boolean;
  /** Response time per severity: P1 immediate (next tier paged after p1AckWithin), P2 15m, P3 1h, P4 next business day. */
  p1AckWithin: DurationInput;
  p2AckWithin: DurationInput;
  p3AckWithin: DurationInput;
  /** P4: next business day at this local hour, in this offset from UTC. */
  businessDayStartHour: number;
  businessUtcOffsetMinutes: number;
  /** Overloaded (529): "temporary, retry after 30-60s". */
  overloadedRetryAfter: DurationInput;
  /** Server error (500): retries with backoff before mitigating. */
  serverErrorRetries: number;
  /** The first backoff; each retry waits twice the one before. */
  serverErrorBackoff: DurationInput;
  /** Rate limited with no retry-after header: wait this long before probing again. */
  rateLimitDefaultWait: DurationInput;
  /**
   * Recovery check: a probe round every recoveryInterval, every one healthy for the whole
   * recoveryWindow, before mitigations are undone. A round without data (no key, every request
   * refused as malformed) ends the window insufficient_data and asks a responder.
   */
  recoveryWindow: DurationInput;
  recoveryInterval: DurationInput;
  /**
   * A run whose history passes this many events continues as new at the next failed recovery window
   * (sooner when Temporal suggests it), carrying the incident: bounded history however long it lasts.
   */
  historyEventLimit: number;
  /** Mitigation values: the reduced max_tokens, the smaller model (llm_model_override), the fallback message. */
  reducedMaxTokens: number;
  fallbackModel: string;
  fallbackMessage: string;
  /** Key compromise: run the revoke, rotate, audit path; the key's id at the provider (not the key). */
  keyCompromise: boolean;
  apiKeyId: string;
  /** Key compromise audit: usage of this window by key, user and tenant. */
  auditWindow: DurationInput;
  /** How long an approval may wait before the next tier is paged. */
  approvalDeadline: DurationInput;
  followUpAfter: DurationInput;
}

export const LLM_PROVIDER_DEFAULTS: LlmProviderParams = {
  probeRequests: 5,
  // The document's curl asks claude-haiku-4-20250514, which the SDK's model list (1.12) no longer has.
  probeModel: 'claude-haiku-4-5',
  probeTimeout: '30s',
  p99LatencyThreshold: '10s',
  intermittentErrorRate: 0.05,
  qualityThreshold: 0.8,
  degradedQuality: false,
  p1AckWithin: '5m',
  p2AckWithin: '15m',
  p3AckWithin: '1h',
  businessDayStartHour: 9,
  businessUtcOffsetMinutes: 0,
  overloadedRetryAfter: '45s',
  serverErrorRetries: 3,
  serverErrorBackoff: '10s',
  rateLimitDefaultWait: '60s',
  recoveryWindow: '10m',
  recoveryInterval: '1m',
  historyEventLimit: 4_000,
  reducedMaxTokens: 512,
  fallbackModel: 'claude-haiku-4-5',
  fallbackMessage: 'Our AI assistant is temporarily unavailable. Please try again shortly.',
  keyCompromise: false,
  apiKeyId: '',
  auditWindow: '24h',
  approvalDeadline: '15m',
  followUpAfter: '7d',
};
