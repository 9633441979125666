// Just enough of the Redis protocol for a health check: PING and INFO over a plain socket.
import net from 'node:net';

export interface RedisInfo {
  latencyMs: number;
  info: Record<string, string>;
}

export function redisInfo(redisUrl: string, timeoutMs = 3000): Promise<RedisInfo> {
  const url = new URL(redisUrl);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let latencyMs = 0;
    let buffer = '';
    const socket = net.connect({ host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) });
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`redis at ${url.host} timed out after ${timeoutMs} ms`)),
    );
    socket.on('error', (err) =>
      reject(new Error(`redis at ${url.host} unreachable: ${(err as NodeJS.ErrnoException).code ?? err.message}`)),
    );
    socket.on('connect', () => {
      const auth = url.password
        ? `AUTH ${url.username ? `${decodeURIComponent(url.username)} ` : ''}${decodeURIComponent(url.password)}\r\n`
        : '';
      socket.write(`${auth}PING\r\nINFO\r\n`);
    });
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      if (!latencyMs && buffer.includes('+PONG')) latencyMs = performance.now() - started;
      const err = /^-(.*)\r\n/m.exec(buffer);
      if (err) {
        socket.destroy();
        reject(new Error(`redis at ${url.host}: ${err[1]}`));
        return;
      }
      const bulk = /\$(\d+)\r\n/.exec(buffer);
      if (!bulk) return;
      const start = bulk.index + bulk[0].length;
      const length = Number(bulk[1]);
      if (Buffer.byteLength(buffer.slice(start)) < length) return;
      socket.end();
      const info: Record<string, string> = {};
      for (const line of buffer.slice(start).split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0 && !line.startsWith('#')) info[line.slice(0, i)] = line.slice(i + 1);
      }
      resolve({ latencyMs: Math.round(latencyMs * 10) / 10, info });
    });
  });
}
