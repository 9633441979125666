import type { WebClient } from '@slack/web-api';
import type { Pool } from 'pg';
import type { RunbookDocument } from '../catalogue/document';
import type { Config } from '../config/schema';
import type { IncidentStore } from './db/incident-store';
import type { DrillPools } from './db/pools';

/** Everything activities reach the world through; the worker builds it, tests build it with local services. */
export interface Deps {
  config: Config;
  store: IncidentStore;
  /** The LLM app's database: its health is a diagnostic, its feature_flags a mitigation lever. */
  telemetry: Pool;
  /**
   * This project's own database (DATABASE_URL, the store's): it keeps the cost rollups of the
   * app's telemetry, so the app's database is only read, and its server holds drills' scratch
   * telemetry databases.
   */
  storeDb: Pool;
  /** Drills' scratch telemetry databases (drill_*) on the store's server. */
  drillTelemetry: DrillPools;
  /** Only for secrets read by name (PagerDuty routing key, command env); never passed to workflows. */
  env: NodeJS.ProcessEnv;
  slack?: WebClient;
  /**
   * The catalogue runbooks' documents the worker runs, by runbook id: catalogue/runbooks/<id>.md
   * (catalogue/load.ts) unless given. Never taken from a workflow's input.
   */
  documents?: (runbook: string) => RunbookDocument;
}
