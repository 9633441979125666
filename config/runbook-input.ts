// What a runbook starts with: the request, its parameters resolved over config, and the approval
// policy. Shared by the gateway and CLI (client/incidents.ts) and the synthetic probe (a workflow).
import { CATALOGUE_RUNBOOKS, type AlertEvent, type RunbookId, type RunbookInput } from '../workflows/definitions';
import { loadDocument } from '../catalogue/load';
import { actionSpecs } from './action-plan';
import { resolveParams } from './params';
import type { Config } from './schema';

export interface InputRequest {
  runbook: RunbookId;
  service: string;
  environment: string;
  severity?: string;
  params?: Record<string, unknown>;
  alert?: AlertEvent;
  source: RunbookInput['source'];
  startedBy: string;
}

export function runbookInput(
  config: Config,
  req: InputRequest,
  key: string,
  routeParams: Record<string, unknown> = {},
): RunbookInput {
  const { approvals, responders } = config;
  return {
    runbook: req.runbook,
    incidentKey: key,
    service: req.service,
    environment: req.environment,
    severity: req.severity ?? 'P2',
    source: req.source,
    startedBy: req.startedBy,
    params: resolveParams(req.runbook, config, routeParams, req.params ?? {}),
    stepRoles: { default: approvals.defaultRoles, ...approvals.stepRoles },
    responders: Object.fromEntries(responders.map((r) => [r.name, r.roles])),
    preApproved: approvals.preApproved,
    ...(approvals.trustTemporalSignals ? { trustTemporalSignals: true } : {}),
    actions: actionSpecs(config.actions),
    alert: req.alert,
    // A catalogue runbook runs its document, read (and checked) as it starts.
    ...(CATALOGUE_RUNBOOKS.includes(req.runbook) ? { document: loadDocument(req.runbook) } : {}),
  };
}
