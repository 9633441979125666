// The gateway process: config, incident store, Temporal client, HTTP server on GATEWAY_PORT.
import { loadConfig } from '../../config/load';
import { IncidentStore } from '../../activities/db/incident-store';
import { createPools } from '../../activities/db/pools';
import { connectClient } from '../temporal';
import { createGateway, exposureProblem } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const port = Number(process.env.GATEWAY_PORT ?? 8088);
  const host = process.env.GATEWAY_HOST ?? '127.0.0.1';
  // Closed by default: beyond this machine only with Alertmanager's token and someone to decide.
  const refusal = exposureProblem(host, process.env.WEBHOOK_TOKEN, config.responders.length);
  if (refusal) throw new Error(refusal);
  // The name it listens on is one of its names (a wildcard address is not a name).
  if (!['0.0.0.0', '::'].includes(host)) config.gateway.hosts.push(host);
  const pools = createPools();
  const client = await connectClient();
  const server = createGateway({
    client,
    config,
    store: IncidentStore.create(pools.store),
    webhookToken: process.env.WEBHOOK_TOKEN || undefined,
    changesToken: process.env.CHANGES_TOKEN || undefined,
    taskQueue: process.env.RUNBOOKS_TASK_QUEUE || undefined,
    signingKey: process.env.DECISION_SIGNING_KEY || undefined,
  });
  server.listen(port, host, () => console.log(`gateway listening on http://127.0.0.1:${port}`));
  const stop = () => {
    server.close(() => {
      void client.connection
        .close()
        .then(() => pools.end())
        .then(() => process.exit(0));
    });
    server.closeAllConnections();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  console.error(`gateway: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
