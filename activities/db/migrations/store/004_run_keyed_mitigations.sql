-- An alert group that fires again after its incident closed gets the same workflow id and a new
-- run: the mitigation ledger and the follow-ups are the run's, so its approved rollback runs again.
-- Rows written before are given the run of that workflow that had started when they were written
-- (from `incidents`), or '' where no such run is known.
ALTER TABLE mitigation_runs ADD COLUMN run_id text;
UPDATE mitigation_runs m SET run_id = coalesce(
  (SELECT i.run_id FROM incidents i
    WHERE i.workflow_id = m.workflow_id AND i.started_at <= m.intent_at
    ORDER BY i.started_at DESC LIMIT 1),
  '');
ALTER TABLE mitigation_runs ALTER COLUMN run_id SET NOT NULL;
ALTER TABLE mitigation_runs DROP CONSTRAINT mitigation_runs_pkey;
ALTER TABLE mitigation_runs ADD PRIMARY KEY (workflow_id, run_id, step, phase);

-- A flag change records the row as it was (`prior`, null: absent) and as the change left it
-- (`applied`), so its undo puts back exactly the prior row, and only if nobody changed it since.
-- `conflict`: the undo found the row changed by someone else and left it for a responder.
ALTER TABLE mitigation_runs ADD COLUMN prior jsonb, ADD COLUMN applied jsonb;
ALTER TABLE mitigation_runs DROP CONSTRAINT mitigation_runs_outcome_check;
ALTER TABLE mitigation_runs ADD CONSTRAINT mitigation_runs_outcome_check
  CHECK (outcome IN ('succeeded', 'failed', 'conflict'));

ALTER TABLE follow_ups ADD COLUMN run_id text;
UPDATE follow_ups f SET run_id = coalesce(
  (SELECT i.run_id FROM incidents i
    WHERE i.workflow_id = f.workflow_id AND i.started_at <= f.due_at
    ORDER BY i.started_at DESC LIMIT 1),
  '');
ALTER TABLE follow_ups ALTER COLUMN run_id SET NOT NULL;
CREATE UNIQUE INDEX follow_ups_task ON follow_ups (workflow_id, run_id, task);
