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
  // A catalogue runbook's document is checked as it starts (a broken one refuses the start, with
  // its line and reason), but not carried: the worker runs its own copy, read by runbook id.
  if (CATALOGUE_RUNBOOKS.includes(req.runbook)) loadDocument(req.runbook);
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
  };
}
