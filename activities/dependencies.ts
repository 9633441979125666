// Dependency check: Postgres and Redis reachability, latency and saturation; downstream status
// pages; and, after a secret restore, whether the OTLP exporter endpoints answer.
import type { Deps } from './deps';
import { fetchJson, fetchWithCredentials, observe, shownUrl, type Observed } from './http';
import { redisInfo } from './redis-info';

export interface DependencyHealth {
  name: string;
  reachable: boolean;
  latencyMs?: number;
  /** 0..1: the fullest of the resource's limits (connections, memory). */
  saturation?: number;
  detail: string;
}

export interface ProviderStatus {
  name: string;
  url: string;
  indicator: string;
  description: string;
}

export interface EndpointCheck {
  url: string;
  reachable: boolean;
  detail: string;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

export function createDependencyActivities({ config, telemetry }: Deps) {
  async function postgres(): Promise<DependencyHealth> {
    const started = performance.now();
    try {
      const { rows } = await telemetry.query<{ used: string; max: string; waiting: string }>(
        `SELECT (SELECT count(*) FROM pg_stat_activity) AS used,
                current_setting('max_connections') AS max,
                (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock') AS waiting`,
      );
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      const saturation = round(Number(rows[0].used) / Number(rows[0].max));
      return {
        name: 'postgres',
        reachable: true,
        latencyMs,
        saturation,
        detail: `${rows[0].used}/${rows[0].max} connections, ${rows[0].waiting} waiting on locks, ${latencyMs} ms`,
      };
    } catch (err) {
      return { name: 'postgres', reachable: false, detail: (err as Error).message };
    }
  }

  async function redis(): Promise<DependencyHealth> {
    const url = config.dataSources.redisUrl;
    if (!url) return { name: 'redis', reachable: false, detail: 'not configured (REDIS_URL)' };
    try {
      const { latencyMs, info } = await redisInfo(url);
      const clients = Number(info.connected_clients ?? 0) / Number(info.maxclients || 10000);
      const maxmemory = Number(info.maxmemory ?? 0);
      const memory = maxmemory > 0 ? Number(info.used_memory ?? 0) / maxmemory : 0;
      return {
        name: 'redis',
        reachable: true,
        latencyMs,
        saturation: round(Math.max(clients, memory)),
        detail: `${info.connected_clients} clients, ${info.rejected_connections ?? 0} rejected connections, memory ${info.used_memory_human ?? '?'}${maxmemory ? ` of ${info.maxmemory_human}` : ''}, ${latencyMs} ms`,
      };
    } catch (err) {
      return { name: 'redis', reachable: false, detail: (err as Error).message };
    }
  }

  return {
    async dependencyHealth(): Promise<DependencyHealth[]> {
      return Promise.all([postgres(), redis()]);
    },

    async providerStatus(): Promise<Observed<ProviderStatus>[]> {
      return Promise.all(
        config.dataSources.statusPages.map((page) =>
          observe(async () => {
            const body = await fetchJson<{ status?: { indicator?: string; description?: string } }>(page.url, {
              timeoutMs: 5000,
            });
            return {
              name: page.name,
              url: shownUrl(page.url),
              indicator: body.status?.indicator ?? 'unknown',
              description: body.status?.description ?? '',
            };
          }, shownUrl(page.url)),
        ),
      );
    },

    async checkOtelEndpoints(): Promise<EndpointCheck[]> {
      return Promise.all(
        config.dataSources.otelEndpoints.map(async (url) => {
          const shown = shownUrl(url);
          try {
            const res = await fetchWithCredentials(url, {
              method: 'POST',
              signal: AbortSignal.timeout(5000),
              body: '',
            });
            return { url: shown, reachable: true, detail: `answered ${res.status}` };
          } catch (err) {
            const code = (err as { cause?: { code?: string } }).cause?.code;
            return { url: shown, reachable: false, detail: code ?? (err as Error).message };
          }
        }),
      );
    },
  };
}
