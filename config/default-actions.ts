// Actions that work without configuration: the cost-spike and provider runbooks' mitigations as the
// feature_flags rows the LLM app reads, with the seed's values filled from the runbook's parameters
// and the diagnosis. Undo puts each row back as it was before the incident. A config file's
// `actions` entry of the same name replaces one (e.g. with a command).
import type { ActionConfig } from './schema';

const flag = (feature: string, value?: string, enabled = true): ActionConfig => ({
  flag: { feature, enabled, ...(value !== undefined ? { value } : {}) },
  timeout: '1m',
  env: [],
});

export const DEFAULT_ACTIONS: Record<string, ActionConfig> = {
  // llm-provider-incident: the app's switches around its provider calls.
  'provider-circuit-breaker': flag('llm_circuit_breaker'),
  'queue-non-critical': flag('llm_queue_non_critical'),
  'message-batches': flag('llm_bulk_via_message_batches'),
  'reduce-max-tokens': flag('llm_max_tokens', '{reducedMaxTokens}'),
  'fallback-mode': flag('llm_fallback_mode', '{fallbackMessage}'),
  'smaller-model': flag('llm_model_override', '{fallbackModel}'),
  'revoke-key': { providerKey: { keyId: '{apiKeyId}', status: 'inactive' }, timeout: '1m', env: [] },
  // cost-spike:
  'reduce-auto-save': flag('auto_save_interval_ms', '{autoSaveIntervalMs}'),
  'rate-limit-undo': flag('undo_rate_limit', '{undoRateLimit}'),
  'cap-context': flag('max_context_messages', '{maxContextMessages}'),
  'reduce-tool-retries': flag('max_tool_retries', '{maxToolRetries}'),
  'circuit-breaker': flag(
    'tool_circuit_breaker',
    'failure_threshold={circuitBreakerFailures},recovery_timeout={circuitBreakerRecoverySeconds}',
  ),
  'throttle-feature': flag('{feature}_throttle', '{featureThrottle}'),
  'rate-limit-traffic': flag('{trafficScope}_rate_limit', '{trafficRateLimit}'),
  'rollback-model-or-cap-output': flag('max_output_tokens', '{maxOutputTokens}'),
  'enable-cost-cap': {
    flag: { feature: '{feature}', enabled: false, whenLastHourCostAbove: '{costCapUsd}' },
    timeout: '1m',
    env: [],
  },
  'disable-feature': flag('{feature}', undefined, false),
};
