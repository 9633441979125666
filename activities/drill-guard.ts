// A drill's runbook runs under a `drill/` workflow id. Whatever the workflow asks, the activities
// that change the world or reach people answer for it without doing anything.
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
