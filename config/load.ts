// Reads and validates the config file, then lays the environment's addresses over it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
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
  return withEnvironment({ ...parsed.data, actions: { ...DEFAULT_ACTIONS, ...parsed.data.actions } }, env);
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
