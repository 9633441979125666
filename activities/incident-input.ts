// The synthetic probe opens incidents as the gateway does: the config's parameters and approval
// policy go into the runbook's input. Read here, at the worker, where the config lives.
import { runbookInput, type InputRequest } from '../config/runbook-input';
import type { RunbookInput } from '../workflows/definitions';
import type { Deps } from './deps';

export function createIncidentInputActivities({ config }: Deps) {
  return {
    async incidentInput(input: { req: InputRequest; key: string }): Promise<RunbookInput> {
      return runbookInput(config, input.req, input.key);
    },
  };
}
