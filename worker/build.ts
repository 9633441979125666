// Builds a worker for the runbooks task queue from its dependencies; main.ts and the tests share it.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type Deps } from '../activities';
import { TASK_QUEUE } from '../workflows/definitions';

export const WORKFLOWS_PATH = require.resolve('../workflows');

export async function buildWorker(
  deps: Deps,
  connection: NativeConnection,
  namespace: string,
  options: Partial<WorkerOptions> = {},
): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue: TASK_QUEUE,
    // Bundled from source here unless the caller brings a bundle made once (the test runner does).
    ...(options.workflowBundle || options.workflowsPath ? {} : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(deps),
    ...options,
  });
}
