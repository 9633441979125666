// "Set up alert for this condition": a Prometheus rule for the diagnosed cause, over the counters an
// LLM app exports beside its telemetry (llm_inference_requests_total and llm_inference_cost_usd_total
// with feature, trigger_type and model labels, llm_tool_calls_total with tool and outcome), and the
// same check as SQL on the telemetry tables for apps that export no metrics.
import type { Diagnosis } from '../definitions';
import type { CostSpikeParams } from './cost-spike.params';

export interface AlertRuleSuggestion {
  name: string;
  expr: string;
  for: string;
  sql: string;
  description: string;
}

export function alertRuleFor(diagnosis: Diagnosis, p: CostSpikeParams): AlertRuleSuggestion {
  const up = (1 + p.spikeThreshold).toFixed(2);
  const days = p.baselineDays;
  const baseline = (metric: string) =>
    `(${Array.from({ length: days }, (_, i) => `sum(increase(${metric}[1h] offset ${i + 1}d))`).join(' + ')}) / ${days}`;
  const total = {
    name: 'InferenceCostSpike',
    expr: `sum(increase(llm_inference_cost_usd_total[1h])) > ${up} * ${baseline('llm_inference_cost_usd_total')}`,
    sql: `SELECT SUM(cost_usd) FROM inference_events WHERE created_at > NOW() - INTERVAL '1 hour'  -- alert above ${up} x the same hour's mean over the previous ${days} days`,
    description: `Inference cost more than ${Math.round(p.spikeThreshold * 100)}% above the same hour of the previous ${days} days`,
  };
  const ratio = (filter: string) =>
    `sum(rate(llm_inference_requests_total{${filter}}[1h])) / sum(rate(llm_inference_requests_total[1h]))`;
  const byCause: Record<string, Omit<AlertRuleSuggestion, 'for'>> = {
    hidden_recompute: {
      name: 'InferenceHiddenRecomputeHigh',
      expr: `${ratio('trigger_type=~"undo|retry|auto_save"')} > ${up} * (${ratio('trigger_type=~"undo|retry|auto_save"').replaceAll('[1h]', '[7d]')})`,
      sql: `SELECT SUM(CASE WHEN trigger_type IN ('undo', 'retry', 'auto_save') THEN 1 ELSE 0 END)::float / COUNT(*) FROM inference_events WHERE created_at > NOW() - INTERVAL '1 hour'`,
      description: 'Hidden recompute (undo, retry, auto_save) share of requests above its 7-day level',
    },
    tool_retry_storm: {
      name: 'ToolCallFailureRateHigh',
      expr: `sum by (tool) (rate(llm_tool_calls_total{outcome="failure"}[15m])) / sum by (tool) (rate(llm_tool_calls_total[15m])) > 0.1`,
      sql: `SELECT tool_name, AVG(retries), SUM(CASE WHEN success = false THEN 1 ELSE 0 END)::float / COUNT(*) FROM tool_calls WHERE created_at > NOW() - INTERVAL '15 minutes' GROUP BY 1`,
      description: 'A tool fails on more than 10% of calls: retries multiply inference cost',
    },
    context_bloat: {
      name: 'InferenceInputTokensRising',
      expr: `sum(rate(llm_inference_input_tokens_total[1h])) / sum(rate(llm_inference_requests_total[1h])) > ${up} * sum(rate(llm_inference_input_tokens_total[7d])) / sum(rate(llm_inference_requests_total[7d]))`,
      sql: `SELECT AVG(input_tokens) FROM inference_events WHERE created_at > NOW() - INTERVAL '1 hour'`,
      description: 'Average input tokens per request above their 7-day level (context bloat)',
    },
    output_growth: {
      name: 'InferenceOutputTokensRising',
      expr: `sum by (model) (rate(llm_inference_output_tokens_total[1h])) / sum by (model) (rate(llm_inference_requests_total[1h])) > ${up} * sum by (model) (rate(llm_inference_output_tokens_total[7d])) / sum by (model) (rate(llm_inference_requests_total[7d]))`,
      sql: `SELECT model, AVG(output_tokens) FROM inference_events WHERE created_at > NOW() - INTERVAL '1 hour' GROUP BY 1`,
      description: 'Average output tokens per request above their 7-day level, per model',
    },
    feature_regression: {
      name: 'FeatureCostPerRequestRising',
      expr: `sum by (feature) (rate(llm_inference_cost_usd_total[1h])) / sum by (feature) (rate(llm_inference_requests_total[1h])) > ${up} * sum by (feature) (rate(llm_inference_cost_usd_total[7d])) / sum by (feature) (rate(llm_inference_requests_total[7d]))`,
      sql: `SELECT feature, SUM(cost_usd) / COUNT(*) FROM inference_events WHERE created_at > NOW() - INTERVAL '1 hour' GROUP BY 1`,
      description: 'A feature costs more per request than over the last 7 days',
    },
    bot_or_abuse: {
      name: 'InferenceRequestsPerUserHigh',
      expr: `topk(5, sum by (user_agent) (rate(llm_inference_requests_total[15m]))) > ${up} * 10 * avg(sum by (user_agent) (rate(llm_inference_requests_total[7d])))`,
      sql: `SELECT user_agent, user_id, COUNT(*) FROM inference_events WHERE created_at > NOW() - INTERVAL '15 minutes' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5`,
      description: 'A few agents or users send far more requests than usual (bots or abuse)',
    },
    traffic_increase: {
      name: 'InferenceTrafficSurge',
      expr: `sum(rate(llm_inference_requests_total[1h])) > ${up} * ${baseline('llm_inference_requests_total').replaceAll('increase', 'rate')}`,
      sql: `SELECT COUNT(*), COUNT(DISTINCT user_id) FROM inference_events WHERE created_at > NOW() - INTERVAL '1 hour'`,
      description: 'Requests more than the threshold above the same hour of previous days',
    },
  };
  return { ...(byCause[diagnosis.primary] ?? total), for: `${p.sustainedHours}h` };
}
