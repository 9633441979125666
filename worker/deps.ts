// Production dependencies from the config file and the environment.
import { WebClient } from '@slack/web-api';
import type { Config } from '../config/schema';
import type { Deps } from '../activities';
import { IncidentStore } from '../activities/db/incident-store';
import { drillPools, type Pools } from '../activities/db/pools';

export function slackClient(env: NodeJS.ProcessEnv): WebClient | undefined {
  if (!env.SLACK_BOT_TOKEN) return undefined;
  const base = env.SLACK_API_URL ? `${env.SLACK_API_URL.replace(/\/$/, '')}/` : undefined;
  return new WebClient(env.SLACK_BOT_TOKEN, { slackApiUrl: base, retryConfig: { retries: 2 } });
}

export function depsFrom(config: Config, pools: Pools, env: NodeJS.ProcessEnv = process.env): Deps {
  return {
    config,
    store: IncidentStore.create(pools.store),
    telemetry: pools.telemetry,
    storeDb: pools.store,
    drillTelemetry: drillPools(pools.store),
    env,
    slack: slackClient(env),
  };
}
