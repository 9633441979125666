// The worker's workflow bundle: one export per runbook, named by its workflow type.
export { apiErrorBudget } from './runbooks/api-error-budget';
export { followUpReminder } from './follow-up';
export { costSpike } from './runbooks/cost-spike';
export { llmProviderIncident } from './runbooks/llm-provider-incident';
export { providerProbe } from './provider-probe';
export { guidedRunbook } from './runbooks/guided';
export { maintenanceRun } from './maintenance';
export { runbookDrill } from './drill';
export { telemetryRollup } from './telemetry-rollup';
