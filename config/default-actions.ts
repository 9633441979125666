// Actions that work without configuration: the cost-spike runbook's mitigations as the
// feature_flags rows the LLM app reads, with the seed's values filled from the runbook's
// parameters. A config file's `actions` entry of the same name replaces one (e.g. with a command).
import type { ActionConfig } from './schema';

const flag = (feature: string, value: string, undoValue?: string): ActionConfig => ({
  flag: { feature, enabled: true, value },
  ...(undoValue !== undefined ? { undoFlag: { feature, enabled: true, value: undoValue } } : {}),
  timeout: '1m',
  env: [],
});

/** On for the incident, off again once it ends. */
const toggle = (feature: string, value?: string): ActionConfig => ({
  flag: { feature, enabled: true, ...(value !== undefined ? { value } : {}) },
  undoFlag: { feature, enabled: false },
  timeout: '1m',
  env: [],
});

export const DEFAULT_ACTIONS: Record<string, ActionConfig> = {
  // llm-provider-incident: the app's switches around its provider calls.
  'provider-circuit-breaker': toggle('llm_circuit_breaker'),
  'queue-non-critical': toggle('llm_queue_non_critical'),
  'message-batches': toggle('llm_bulk_via_message_batches'),
  'reduce-max-tokens': toggle('llm_max_tokens', '{reducedMaxTokens}'),
  'fallback-mode': toggle('llm_fallback_mode', '{fallbackMessage}'),
  'smaller-model': toggle('llm_model_override', '{fallbackModel}'),
  'revoke-key': { providerKey: { keyId: '{apiKeyId}', status: 'inactive' }, timeout: '1m', env: [] },
  // cost-spike:
  'reduce-auto-save': flag('auto_save_interval_ms', '{autoSaveIntervalMs}', '{previousAutoSaveIntervalMs}'),
  'rate-limit-undo': flag('undo_rate_limit', '{undoRateLimit}'),
  'cap-context': flag('max_context_messages', '{maxContextMessages}'),
  'reduce-tool-retries': flag('max_tool_retries', '{maxToolRetries}', '{previousMaxToolRetries}'),
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
  'disable-feature': {
    flag: { feature: '{feature}', enabled: false },
    undoFlag: { feature: '{feature}', enabled: true },
    timeout: '1m',
    env: [],
  },
};
