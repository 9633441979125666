-- What was done at each step of an incident, kept as rows so runbooks can be reviewed and
-- updated from what happened (durations, skips, notes), not from prose.
CREATE TABLE incident_steps (
  workflow_id  text NOT NULL,
  run_id       text NOT NULL,
  position     integer NOT NULL,
  step         text NOT NULL,
  section      text NOT NULL,
  title        text NOT NULL,
  kind         text NOT NULL,
  status       text NOT NULL,
  started_at   timestamptz,
  finished_at  timestamptz,
  duration_ms  bigint GENERATED ALWAYS AS ((extract(epoch FROM finished_at - started_at) * 1000)::bigint) STORED,
  note         text,
  over_budget  boolean NOT NULL DEFAULT false,
  PRIMARY KEY (workflow_id, run_id, step)
);

-- One row per scheduled maintenance pass: what each automated check of the runbook's document
-- answered, and the incident a failing pass opened or joined.
CREATE TABLE maintenance_runs (
  workflow_id      text NOT NULL,
  run_id           text NOT NULL,
  runbook          text NOT NULL,
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz NOT NULL DEFAULT now(),
  ok               boolean NOT NULL,
  summary          text NOT NULL,
  checks           jsonb NOT NULL,
  incident_id      text,
  incident_outcome text,
  PRIMARY KEY (workflow_id, run_id)
);
CREATE INDEX maintenance_runs_recent ON maintenance_runs (runbook, started_at DESC);

-- One row per drill: whether the runbook still reaches the scenario's diagnosis and mitigation.
CREATE TABLE drill_runs (
  workflow_id text NOT NULL,
  run_id      text NOT NULL,
  runbook     text NOT NULL,
  scenario    text NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  passed      boolean NOT NULL,
  report      jsonb NOT NULL,
  PRIMARY KEY (workflow_id, run_id)
);
CREATE INDEX drill_runs_recent ON drill_runs (runbook, scenario, finished_at DESC);
