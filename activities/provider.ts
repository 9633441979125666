// The runbook's provider connectivity test: a few one-token Messages API calls, each reported as it
// went (status, latency, request id, rate-limit headers), so an incident can tell an outage, a
// rate limit, a revoked key and a slow network apart.
import Anthropic, { APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import type { Deps } from './deps';
import { drillSource } from './drill-guard';

export interface ProbeResult {
  /** HTTP status; null when no response came (timeout or connection failure). */
  status: number | null;
  outcome: 'ok' | 'error' | 'timeout' | 'connection';
  latencyMs: number;
  requestId: string | null;
  /** The error body's error.type (e.g. rate_limit_error), or the SDK error's name without a response. */
  errorType: string | null;
  message: string | null;
  /** anthropic-ratelimit-* and retry-after headers, as sent. */
  rateLimit: Record<string, string>;
  at: string; // ISO time the request started
}

export interface ProbeReport {
  configured: boolean;
  reason?: string;
  model: string;
  results: ProbeResult[];
}

export interface ProbeInput {
  requests: number;
  model: string;
  timeoutMs: number;
  /** A drill's failing provider; the real key is never sent there. */
  baseUrl?: string;
}

function rateLimitHeaders(headers: Headers | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  headers?.forEach((value, name) => {
    if (name.startsWith('anthropic-ratelimit-') || name === 'retry-after') out[name] = value;
  });
  return out;
}

/** The SDK's "Connection error." says nothing of why; the causes under it do (fetch failed, ECONNREFUSED). */
function withCauses(err: Error): string {
  const causes: string[] = [];
  for (let c = err.cause; c instanceof Error && causes.length < 3; c = c.cause) causes.push(c.message);
  return causes.length ? `${err.message} (${causes.join(': ')})` : err.message;
}

/** Sorts a failed call into the report's terms; a status means the API answered. */
function failure(err: unknown): Omit<ProbeResult, 'latencyMs' | 'at'> {
  if (err instanceof APIError && err.status !== undefined) {
    // type and apiMessage are the body's error.type and error.message, when the body has them.
    return {
      status: err.status,
      outcome: 'error',
      requestId: err.requestID ?? null,
      errorType: err.type ?? err.name,
      message: err.apiMessage ?? err.message,
      rateLimit: rateLimitHeaders(err.headers),
    };
  }
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    status: null,
    outcome: error instanceof APIConnectionTimeoutError ? 'timeout' : 'connection',
    requestId: null,
    errorType: error.name,
    message: withCauses(error),
    rateLimit: {},
  };
}

export function createProviderActivities({ env }: Deps) {
  return {
    async probeProvider({ requests, model, timeoutMs, baseUrl: asked }: ProbeInput): Promise<ProbeReport> {
      // A drill's failing provider, only when this worker started it for the drill that asks.
      const drill = asked ? drillSource(asked) : undefined;
      if (drill && 'refused' in drill) return { configured: false, reason: drill.refused, model, results: [] };
      const baseUrl = drill?.url;
      const apiKey = baseUrl ? 'drill' : env.ANTHROPIC_API_KEY;
      if (!apiKey) return { configured: false, reason: 'ANTHROPIC_API_KEY is not set', model, results: [] };
      // null, not undefined: the SDK would otherwise fall back to the process's ANTHROPIC_BASE_URL.
      // No retries: a retried call would hide the very failures the probe is there to count.
      const client = new Anthropic({
        apiKey,
        baseURL: baseUrl || env.ANTHROPIC_BASE_URL || null,
        maxRetries: 0,
        timeout: timeoutMs,
      });
      // Nothing the API or a proxy echoes back may carry the key into the incident record.
      const scrub = (text: string | null) => text && text.replaceAll(apiKey, '[redacted]');
      const results: ProbeResult[] = [];
      // In sequence: concurrent probes would measure our own burst, not the provider.
      for (let i = 0; i < requests; i++) {
        const at = new Date().toISOString();
        const started = performance.now();
        let result: Omit<ProbeResult, 'latencyMs' | 'at'>;
        try {
          const { response, request_id } = await client.messages
            .create({ model, max_tokens: 8, messages: [{ role: 'user', content: '1' }] })
            .withResponse();
          result = {
            status: response.status,
            outcome: 'ok',
            requestId: request_id ?? null,
            errorType: null,
            message: null,
            rateLimit: rateLimitHeaders(response.headers),
          };
        } catch (err) {
          result = failure(err);
        }
        const latencyMs = Math.round((performance.now() - started) * 10) / 10;
        results.push({
          ...result,
          requestId: scrub(result.requestId),
          errorType: scrub(result.errorType),
          message: scrub(result.message),
          rateLimit: Object.fromEntries(Object.entries(result.rateLimit).map(([k, v]) => [k, scrub(v) ?? ''])),
          latencyMs,
          at,
        });
      }
      return { configured: true, model, results };
    },

    /**
     * The postmortem's narrative, drafted by the model from the filled template. Optional: null
     * without a key or when the API does not answer in time; the template stands on its own.
     */
    async draftNarrative({ postmortem, model, timeoutMs }: { postmortem: string; model: string; timeoutMs: number }) {
      const apiKey = env.ANTHROPIC_API_KEY;
      if (!apiKey) return null;
      const client = new Anthropic({
        apiKey,
        baseURL: env.ANTHROPIC_BASE_URL || null,
        maxRetries: 0,
        timeout: timeoutMs,
      });
      try {
        const msg = await client.messages.create({
          model,
          max_tokens: 400,
          messages: [
            {
              role: 'user',
              content: `Write the narrative of this incident in 3 to 5 plain sentences for the postmortem, using only the facts below.\n\n${postmortem}`,
            },
          ],
        });
        const text = msg.content
          .map((c) => (c.type === 'text' ? c.text : ''))
          .join('')
          .trim();
        return text ? text.replaceAll(apiKey, '[redacted]').slice(0, 2000) : null;
      } catch {
        return null;
      }
    },
  };
}
