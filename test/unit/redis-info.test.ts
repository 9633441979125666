// The Redis health check through node-redis: PING and INFO from the machine's Redis, TLS for
// rediss://, and a password never sent in clear to a Redis off this machine.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { redisInfo } from '../../activities/redis-info';
import { nonLoopbackAddress } from '../support/smtp-standin';
import { shortLivedTlsServer } from '../support/tls';

const LOCAL = 'redis://127.0.0.1:6379';

function reachable(port: number): Promise<boolean> {
  const socket = net.connect({ host: '127.0.0.1', port }).setTimeout(500);
  return new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => resolve(false));
  }).finally(() => socket.destroy());
}

test('PING latency and INFO from the local Redis', async (t) => {
  if (!(await reachable(6379))) return t.skip('no Redis on 127.0.0.1:6379');
  const { latencyMs, info } = await redisInfo(LOCAL, 2000);
  assert.ok(latencyMs >= 0 && latencyMs < 2000, String(latencyMs));
  assert.match(info.redis_version, /^\d+\.\d+/);
  assert.match(info.connected_clients, /^\d+$/);
  assert.ok('used_memory' in info && 'maxmemory' in info);
  // A password to loopback goes in clear; this Redis's answer comes back without it.
  await assert.rejects(redisInfo('redis://runbooks:hunter2@127.0.0.1:6379', 2000), (err: Error) => {
    assert.match(err.message, /^redis at 127\.0\.0\.1:6379: /);
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
});

const remoteHost = nonLoopbackAddress();

test(
  'credentials over redis:// to a host off this machine: refused without connecting',
  {
    skip: !remoteHost && 'no non-loopback address',
  },
  async () => {
    const host = remoteHost!;
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, host, r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await assert.rejects(redisInfo(`redis://:hunter2@${host}:${port}`, 2000), (err: Error) => {
        assert.match(err.message, /rediss:\/\//);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      });
      assert.equal(connections, 0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  },
);

test('rediss:// speaks TLS and checks the certificate', async () => {
  const tls = await shortLivedTlsServer(1);
  try {
    await assert.rejects(redisInfo(`rediss://:hunter2@${tls.endpoint}`, 2000), (err: Error) => {
      assert.match(err.message, /self.signed|certificate/i);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  } finally {
    await tls.close();
  }
});
