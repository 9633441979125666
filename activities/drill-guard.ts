// A drill's runbook runs under a `drill/` workflow id. Whatever the workflow asks, the activities
// that change the world or reach people answer for it without doing anything.
//
// A drill's synthetic incident may also point a read at a local endpoint in this worker (its
// Prometheus, its failing Messages API). A workflow input can name any URL, so a read goes there
// only when it is one of the endpoints this worker process started for a drill, and only for a
// drill's runbook.
import { Context } from '@temporalio/activity';
import { DRILL_PREFIX } from '../workflows/definitions';

export function isDrill(workflowId?: string): boolean {
  if (workflowId !== undefined) return workflowId.startsWith(DRILL_PREFIX);
  try {
    return Context.current().info.workflowExecution?.workflowId.startsWith(DRILL_PREFIX) ?? false;
  } catch {
    return false; // not inside an activity
  }
}

/** Base URLs of the drill endpoints this worker process is serving right now. */
const drillEndpoints = new Set<string>();

const normalise = (url: string) => url.replace(/\/+$/, '');

export function registerDrillEndpoint(url: string): void {
  drillEndpoints.add(normalise(url));
}

export function unregisterDrillEndpoint(url: string): void {
  drillEndpoints.delete(normalise(url));
}

/**
 * Where a read asked to go to `source` may go: the source itself when it is a drill endpoint this
 * worker started and the caller is a drill's runbook; otherwise why not.
 */
export function drillSource(source: string): { url: string } | { refused: string } {
  if (!drillEndpoints.has(normalise(source)))
    return { refused: `source ${source} refused: not a drill endpoint this worker started` };
  if (!isDrill()) return { refused: `source ${source} refused: a drill endpoint is read only by a drill's runbook` };
  return { url: normalise(source) };
}
