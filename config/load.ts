// Reads and validates the config file, then lays the environment's addresses over it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { API_ERROR_BUDGET_DEFAULTS } from '../workflows/runbooks/api-error-budget.params';
import { COST_SPIKE_DEFAULTS } from '../workflows/runbooks/cost-spike.params';
import { LLM_PROVIDER_DEFAULTS } from '../workflows/runbooks/llm-provider-incident.params';
import { DIAGNOSIS_VARS, INCIDENT_VARS, placeholders } from './action-plan';
import { DEFAULT_ACTIONS } from './default-actions';
import { configSchema, type Config } from './schema';

export const DEFAULT_CONFIG_PATH = path.join(__dirname, 'runbooks.json');

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Formats zod issues as `path.to.field: message`, one per line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

export function parseConfig(raw: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${source} is invalid:\n${describeIssues(parsed.error)}`);
  const config = { ...parsed.data, actions: { ...DEFAULT_ACTIONS, ...parsed.data.actions } };
  const unknown = unknownPlaceholders(config);
  if (unknown.length) throw new ConfigError(`${source} is invalid:\n${unknown.join('\n')}`);
  return withEnvironment(config, env);
}

/**
 * A `{name}` in an action that nothing fills would reach production as literal text: refused when
 * the config loads. Known: the incident's service and environment, any runbook parameter, what a
 * diagnosis names, and the catalogue runbooks' `vars` given in routes or runbook params.
 */
function unknownPlaceholders(config: Config): string[] {
  const vars = (params: Record<string, unknown> | undefined) =>
    params?.vars && typeof params.vars === 'object' ? Object.keys(params.vars) : [];
  const known = new Set<string>([
    ...INCIDENT_VARS,
    ...DIAGNOSIS_VARS,
    ...Object.keys(API_ERROR_BUDGET_DEFAULTS),
    ...Object.keys(COST_SPIKE_DEFAULTS),
    ...Object.keys(LLM_PROVIDER_DEFAULTS),
    ...config.routes.flatMap((r) => vars(r.params)),
    ...Object.values(config.runbooks).flatMap((r) => vars(r?.params)),
  ]);
  return Object.entries(config.actions).flatMap(([step, action]) =>
    placeholders({ run: action.run, undo: action.undo, flag: action.flag, providerKey: action.providerKey })
      .filter((name) => !known.has(name))
      .map(
        (name) =>
          `actions.${step}: unknown placeholder {${name}} (use {service}, {environment}, a runbook parameter, a diagnosis variable such as {feature}, or a catalogue runbook's vars)`,
      ),
  );
}

export function loadConfig(file = process.env.RUNBOOKS_CONFIG || DEFAULT_CONFIG_PATH, env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, `config file ${file}`, env);
}

function withEnvironment(config: Config, env: NodeJS.ProcessEnv): Config {
  const ds = config.dataSources;
  if (env.PROMETHEUS_URL) ds.prometheus.url = env.PROMETHEUS_URL;
  if (env.LOKI_URL) ds.loki.url = env.LOKI_URL;
  if (env.TRACES_URL) ds.traces.url = env.TRACES_URL;
  if (env.REDIS_URL) ds.redisUrl = env.REDIS_URL;
  if (env.RESTORE_CHECK_DATABASE_URL) ds.backups.scratchDatabaseUrl = env.RESTORE_CHECK_DATABASE_URL;
  if (env.ANTHROPIC_STATUS_URL && !ds.statusPages.some((p) => p.url === env.ANTHROPIC_STATUS_URL)) {
    ds.statusPages.push({ name: 'anthropic', url: env.ANTHROPIC_STATUS_URL });
  }
  for (const name of [
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
  ]) {
    const url = env[name];
    if (url && !ds.otelEndpoints.includes(url)) ds.otelEndpoints.push(url);
  }
  return config;
}
