// Runbook parameters at the edge: config defaults, route params and `--param k=v` merged over
// the document's defaults, then validated so a typo names the bad field.
import { z } from 'zod';
import { API_ERROR_BUDGET_DEFAULTS } from '../workflows/runbooks/api-error-budget.params';
import { COST_SPIKE_DEFAULTS as CS } from '../workflows/runbooks/cost-spike.params';
import { LLM_PROVIDER_DEFAULTS as LP } from '../workflows/runbooks/llm-provider-incident.params';
import { GUIDED_DEFAULTS } from '../workflows/runbooks/guided.params';
import { CATALOGUE_RUNBOOKS, type RunbookId } from '../workflows/definitions';
import type { Config } from './schema';
import { describeIssues } from './load';

const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d|w)$/, 'a duration like 15m, 90s or 7d'),
]);
const ratio = z.coerce.number().min(0).max(1);
// `--param keyCompromise=true` arrives as a string: only "true"/"false" are booleans here.
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** Every catalogue runbook (a document run by the guided workflow) takes these. */
const guided = z
  .object({
    vars: z.record(z.string(), z.string()).default(GUIDED_DEFAULTS.vars),
    stepDeadline: duration.default(GUIDED_DEFAULTS.stepDeadline),
    followUpAfter: duration.default(GUIDED_DEFAULTS.followUpAfter),
  })
  .strict();

const schemas: Partial<Record<RunbookId, z.ZodType<Record<string, unknown>>>> = {
  ...Object.fromEntries(CATALOGUE_RUNBOOKS.map((id) => [id, guided])),
  'api-error-budget': z
    .object({
      alertThreshold: ratio.default(API_ERROR_BUDGET_DEFAULTS.alertThreshold),
      validationThreshold: ratio.default(API_ERROR_BUDGET_DEFAULTS.validationThreshold),
      validationWindow: duration.default(API_ERROR_BUDGET_DEFAULTS.validationWindow),
      validationInterval: duration.default(API_ERROR_BUDGET_DEFAULTS.validationInterval),
      failAfterBreaches: z.coerce.number().int().min(1).default(API_ERROR_BUDGET_DEFAULTS.failAfterBreaches),
      minValidationRequests: z.coerce.number().int().min(1).default(API_ERROR_BUDGET_DEFAULTS.minValidationRequests),
      recentChangesWindow: duration.default(API_ERROR_BUDGET_DEFAULTS.recentChangesWindow),
      changeBaseline: duration.default(API_ERROR_BUDGET_DEFAULTS.changeBaseline),
      acknowledgeWithin: duration.default(API_ERROR_BUDGET_DEFAULTS.acknowledgeWithin),
      approvalDeadline: duration.default(API_ERROR_BUDGET_DEFAULTS.approvalDeadline),
      logSpikeFactor: z.coerce.number().min(1).default(API_ERROR_BUDGET_DEFAULTS.logSpikeFactor),
      followUpAfter: duration.default(API_ERROR_BUDGET_DEFAULTS.followUpAfter),
    })
    .strict(),
  'cost-spike': z
    .object({
      spikeThreshold: z.coerce.number().positive().default(CS.spikeThreshold),
      sustainedHours: z.coerce.number().int().min(1).max(47).default(CS.sustainedHours),
      baselineDays: z.coerce.number().int().min(1).max(28).default(CS.baselineDays),
      validationWindow: duration.default(CS.validationWindow),
      validationInterval: duration.default(CS.validationInterval),
      minValidationRequests: z.coerce.number().int().min(1).default(CS.minValidationRequests),
      failAfterBreaches: z.coerce.number().int().min(1).default(CS.failAfterBreaches),
      costCapUsd: z.coerce.number().nonnegative().default(CS.costCapUsd),
      leadershipAlertWithin: duration.default(CS.leadershipAlertWithin),
      leadershipTarget: z.string().min(1).default(CS.leadershipTarget),
      capFeature: z.string().default(CS.capFeature),
      autoSaveIntervalMs: z.coerce.number().int().positive().default(CS.autoSaveIntervalMs),
      previousAutoSaveIntervalMs: z.coerce.number().int().positive().default(CS.previousAutoSaveIntervalMs),
      undoRateLimit: z.string().min(1).default(CS.undoRateLimit),
      maxContextMessages: z.coerce.number().int().positive().default(CS.maxContextMessages),
      maxToolRetries: z.coerce.number().int().min(0).default(CS.maxToolRetries),
      previousMaxToolRetries: z.coerce.number().int().min(0).default(CS.previousMaxToolRetries),
      circuitBreakerFailures: z.coerce.number().int().positive().default(CS.circuitBreakerFailures),
      circuitBreakerRecovery: duration.default(CS.circuitBreakerRecovery),
      featureThrottle: z.string().min(1).default(CS.featureThrottle),
      trafficRateLimit: z.string().min(1).default(CS.trafficRateLimit),
      trafficScope: z.string().regex(/^\w+$/, 'a feature_flags name part').default(CS.trafficScope),
      maxOutputTokens: z.coerce.number().int().positive().default(CS.maxOutputTokens),
      risingHours: z.coerce.number().int().min(1).max(24).default(CS.risingHours),
      risingMinSlope: z.coerce.number().nonnegative().default(CS.risingMinSlope),
      stepBudgets: z.record(z.string(), duration).default(CS.stepBudgets),
      asOf: z
        .string()
        .refine((v) => v === '' || Number.isFinite(Date.parse(v)), 'an ISO time, or empty for now')
        .default(CS.asOf),
      approvalDeadline: duration.default(CS.approvalDeadline),
      followUpAfter: duration.default(CS.followUpAfter),
    })
    .strict(),
  'llm-provider-incident': z
    .object({
      probeRequests: z.coerce.number().int().min(1).max(20).default(LP.probeRequests),
      probeModel: z.string().min(1).default(LP.probeModel),
      probeTimeout: duration.default(LP.probeTimeout),
      p99LatencyThreshold: duration.default(LP.p99LatencyThreshold),
      intermittentErrorRate: ratio.default(LP.intermittentErrorRate),
      qualityThreshold: z.coerce.number().default(LP.qualityThreshold),
      degradedQuality: flag.default(LP.degradedQuality),
      p1AckWithin: duration.default(LP.p1AckWithin),
      p2AckWithin: duration.default(LP.p2AckWithin),
      p3AckWithin: duration.default(LP.p3AckWithin),
      businessDayStartHour: z.coerce.number().int().min(0).max(23).default(LP.businessDayStartHour),
      businessUtcOffsetMinutes: z.coerce.number().int().min(-720).max(840).default(LP.businessUtcOffsetMinutes),
      overloadedRetryAfter: duration.default(LP.overloadedRetryAfter),
      serverErrorRetries: z.coerce.number().int().min(0).max(10).default(LP.serverErrorRetries),
      serverErrorBackoff: duration.default(LP.serverErrorBackoff),
      rateLimitDefaultWait: duration.default(LP.rateLimitDefaultWait),
      recoveryWindow: duration.default(LP.recoveryWindow),
      recoveryInterval: duration.default(LP.recoveryInterval),
      historyEventLimit: z.number().int().min(100).max(40_000).default(LP.historyEventLimit),
      reducedMaxTokens: z.coerce.number().int().positive().default(LP.reducedMaxTokens),
      fallbackModel: z.string().min(1).default(LP.fallbackModel),
      fallbackMessage: z.string().min(1).default(LP.fallbackMessage),
      keyCompromise: flag.default(LP.keyCompromise),
      apiKeyId: z.string().default(LP.apiKeyId),
      auditWindow: duration.default(LP.auditWindow),
      approvalDeadline: duration.default(LP.approvalDeadline),
      followUpAfter: duration.default(LP.followUpAfter),
    })
    .strict(),
};

export class ParamsError extends Error {
  override name = 'ParamsError';
}

export function resolveParams(
  runbook: RunbookId,
  config: Config,
  ...layers: Record<string, unknown>[]
): Record<string, unknown> {
  const schema = schemas[runbook];
  if (!schema) throw new ParamsError(`runbook "${runbook}" is not built yet`);
  const merged = Object.assign({}, config.runbooks[runbook]?.params ?? {}, ...layers);
  const parsed = schema.safeParse(merged);
  if (!parsed.success) throw new ParamsError(`parameters for ${runbook} are invalid:\n${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** `k=v` strings from the CLI; values stay strings and are coerced by the schema. */
export function parseParamArgs(args: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new ParamsError(`--param takes k=v, got "${arg}"`);
    out[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
  return out;
}
