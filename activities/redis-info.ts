// The Redis health check through node-redis: PING's round trip and INFO from the Redis in REDIS_URL.
// `rediss://` is TLS; a password goes over plain `redis://` only to a Redis on this machine.
import { z } from 'zod';
import { cleartextAuthAllowed, redact } from './credentials';

export interface RedisInfo {
  latencyMs: number;
  info: Record<string, string>;
}

const RedisUrl = z.url({ protocol: /^rediss?$/, hostname: /./ });

export async function redisInfo(redisUrl: string, timeoutMs = 3000): Promise<RedisInfo> {
  if (!RedisUrl.safeParse(redisUrl).success) throw new Error('REDIS_URL is not a redis:// or rediss:// URL');
  const url = new URL(redisUrl);
  const username = decodeURIComponent(url.username) || undefined;
  const password = decodeURIComponent(url.password) || undefined;
  const where = `redis at ${url.host}`;
  if ((username || password) && url.protocol === 'redis:' && !cleartextAuthAllowed(url.hostname))
    throw new Error(`${where}: credentials would cross the network in clear over redis://; use rediss://`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 6379);
  // One attempt, bounded: a health check reports the failure instead of reconnecting.
  const common = { host, port, connectTimeout: timeoutMs, socketTimeout: timeoutMs, reconnectStrategy: false as const };
  // Loaded on first use (a third of a second): most processes that import the activities never check Redis.
  const { createClient } = await import('redis');
  const client = createClient({
    socket: url.protocol === 'rediss:' ? { ...common, tls: true } : common,
    username,
    password,
    disableOfflineQueue: true,
    disableClientInfo: true,
    maintNotifications: 'disabled',
  });
  // Errors also come as events; the awaited calls below carry them.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const started = performance.now();
    await client.ping();
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    return { latencyMs, info: parseInfo(await client.info()) };
  } catch (err) {
    const message = err instanceof Error ? err.message || err.name : String(err);
    throw new Error(`${where}: ${redact(message, [password, url.password])}`);
  } finally {
    client.destroy();
  }
}

/** INFO's `key:value` lines; `# Section` headers and blank lines dropped. */
function parseInfo(text: string): Record<string, string> {
  const info: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) info[line.slice(0, i)] = line.slice(i + 1);
  }
  return info;
}
