// All activities, built from their dependencies so tests pass real local services.
import type { Deps } from './deps';
import { createActionActivities } from './actions';
import { createCatalogueActivities } from './catalogue';
import { createCertificateActivities } from './certificates';
import { createCostActivities } from './cost';
import { createDecisionProofActivities } from './decision-proof';
import { createIncidentInputActivities } from './incident-input';
import { createKeyAuditActivities } from './key-audit';
import { createMaintenanceActivities } from './maintenance';
import { createDependencyActivities } from './dependencies';
import { createDrillActivities } from './drills';
import { createLokiActivities } from './loki';
import { createNotifyActivities } from './notify';
import { createPrometheusActivities } from './prometheus';
import { createProviderActivities } from './provider';
import { createTelemetryRollupActivities } from './telemetry-rollup';
import { createFollowUpActivities, createStoreActivities } from './store';
import { createTraceActivities } from './traces';

export type { Deps };

export function createActivities(deps: Deps) {
  return {
    ...createStoreActivities(deps),
    ...createFollowUpActivities(deps),
    ...createActionActivities(deps),
    ...createPrometheusActivities(deps),
    ...createLokiActivities(deps),
    ...createTraceActivities(deps),
    ...createDependencyActivities(deps),
    ...createNotifyActivities(deps),
    ...createCostActivities(deps),
    ...createKeyAuditActivities(deps),
    ...createIncidentInputActivities(deps),
    ...createProviderActivities(deps),
    ...createCatalogueActivities(deps),
    ...createCertificateActivities(deps),
    ...createMaintenanceActivities(deps),
    ...createDrillActivities(deps),
    ...createTelemetryRollupActivities(deps),
    ...createDecisionProofActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
