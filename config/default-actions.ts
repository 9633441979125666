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

export const DEFAULT_ACTIONS: Record<string, ActionConfig> = {
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
