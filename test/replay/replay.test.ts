// Histories recorded by the suite (RECORD_HISTORIES=1 npm test) replay against the current
// workflow code, so a change to a released workflow's commands that is not behind patched()
// fails here. One history, altered on purpose, must fail.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR, workflowCode, type RecordedHistory } from '../support/harness';

const files = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
function load(file: string) {
  const fixture = JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as RecordedHistory;
  return { workflowId: fixture.workflowId, history: historyFromJSON(fixture.history) };
}

test('recorded histories are committed', () => {
  assert.ok(files.length >= 5, `expected the suite's recorded histories in ${HISTORIES_DIR}, found ${files.length}`);
});

test('every recorded history replays against the current workflow code', async () => {
  const histories = files.map(load);
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories(workflowCode(), histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.deepEqual(failures, []);
});

test('a history altered on purpose fails the replay', async () => {
  const { workflowId, history } = load('deployment-regression-approved.json');
  const scheduled = history.events!.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'releaseWindow',
  );
  assert.ok(scheduled, 'the history schedules the release-window check');
  // As if the released workflow had called another activity at that point.
  scheduled.activityTaskScheduledEventAttributes!.activityType!.name = 'errorRatioByRoute';
  await assert.rejects(
    Worker.runReplayHistory({ ...workflowCode(), replayName: 'altered' }, history, workflowId),
    DeterminismViolationError,
  );
});
