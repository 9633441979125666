// The worker process: config, database (migrated), Temporal, then run until SIGINT/SIGTERM.
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../config/load';
import { migrateAll } from '../activities/db/migrate';
import { createPools } from '../activities/db/pools';
import { syncDrillSchedules } from '../client/drills';
import { syncMaintenanceSchedules } from '../client/maintenance-schedules';
import { ensureProbeSchedule } from '../client/probe-schedule';
import { ensureSearchAttributes } from '../client/search-attributes';
import { ensureTelemetryRollupSchedule } from '../client/telemetry-rollup-schedule';
import { connectClient, temporalTarget } from '../client/temporal';
import { TASK_QUEUE } from '../workflows/definitions';
import { buildWorker } from './build';
import { depsFrom } from './deps';

async function main(): Promise<void> {
  const config = loadConfig();
  const pools = createPools();
  const target = temporalTarget();
  let connection: NativeConnection | undefined;
  try {
    await migrateAll(pools.store, pools.telemetry, pools.telemetryIsStore);
    const taskQueue = process.env.RUNBOOKS_TASK_QUEUE || TASK_QUEUE;
    const client = await connectClient(target);
    try {
      const registered = await ensureSearchAttributes(client.connection, target.namespace);
      if (registered.length) console.log(`registered search attributes: ${registered.join(', ')}`);
      // Probing needs a key; without one the schedule would only record "not configured" every minute.
      if (config.probe.enabled && process.env.ANTHROPIC_API_KEY) {
        const how = await ensureProbeSchedule(client, config.probe, taskQueue);
        console.log(`provider probe schedule ${how}: every ${config.probe.every}`);
      }
      for (const s of await syncMaintenanceSchedules(client, config, taskQueue))
        if (s.outcome !== 'off') console.log(`maintenance schedule ${s.scheduleId} ${s.outcome}`);
      for (const d of await syncDrillSchedules(client, config, taskQueue))
        console.log(`drill schedule ${d.scheduleId} ${d.outcome}`);
      const rollup = await ensureTelemetryRollupSchedule(client, config.telemetryRollup, taskQueue);
      if (rollup !== 'off')
        console.log(
          `telemetry rollup schedule ${rollup}: every ${config.telemetryRollup.every}, lateness ${config.telemetryRollup.lateness}`,
        );
    } finally {
      await client.connection.close();
    }
    connection = await NativeConnection.connect(target.connectionOptions);
    const worker = await buildWorker(depsFrom(config, pools), connection, target.namespace, { taskQueue });
    console.log(
      `worker polling task queue "${taskQueue}" on ${target.connectionOptions.address} (${target.namespace})`,
    );
    await worker.run();
  } finally {
    await connection?.close();
    await pools.end();
  }
}

main().catch((err) => {
  console.error(`worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
