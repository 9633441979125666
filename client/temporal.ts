// Reaches Temporal the way every process here does: @temporalio/envconfig (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, API key, TLS, profiles), the embedded dev server by default.
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

export interface TemporalTarget {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
}

export function temporalTarget(): TemporalTarget {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  return {
    connectionOptions: { ...connectionOptions, address: connectionOptions.address ?? '127.0.0.1:7233' },
    namespace: namespace ?? 'default',
  };
}

export async function connectClient(target = temporalTarget(), connectTimeoutMs = 10_000): Promise<Client> {
  const { address, tls, apiKey, metadata } = target.connectionOptions;
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout: connectTimeoutMs });
  } catch (err) {
    throw new Error(`cannot reach Temporal at ${address} (namespace ${target.namespace}): ${(err as Error).message}`);
  }
  return new Client({ connection, namespace: target.namespace });
}
