CREATE TABLE incidents (
  workflow_id   text NOT NULL,
  run_id        text NOT NULL,
  runbook       text NOT NULL,
  status        text NOT NULL,
  severity      text NOT NULL,
  service       text NOT NULL,
  environment   text NOT NULL,
  started_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  diagnosis     jsonb,
  resolution    text,
  post_incident jsonb,
  PRIMARY KEY (workflow_id, run_id)
);
CREATE INDEX incidents_open ON incidents (status, started_at DESC);

CREATE TABLE incident_events (
  workflow_id text NOT NULL,
  run_id      text NOT NULL,
  seq         integer NOT NULL,
  at          timestamptz NOT NULL,
  kind        text NOT NULL,
  step        text,
  message     text NOT NULL,
  data        jsonb,
  PRIMARY KEY (workflow_id, run_id, seq)
);

CREATE TABLE decisions (
  id            bigserial PRIMARY KEY,
  workflow_id   text NOT NULL,
  step          text NOT NULL,
  decision      text NOT NULL,
  decided_by    text NOT NULL,
  authenticated boolean NOT NULL,
  comment       text,
  outcome       text NOT NULL CHECK (outcome IN ('accepted', 'refused')),
  reason        text,
  at            timestamptz NOT NULL DEFAULT now(),
  -- Set when the decision came from the workflow's timeline, so a re-synced batch adds nothing.
  run_id        text,
  event_seq     integer,
  UNIQUE (workflow_id, run_id, event_seq)
);
CREATE INDEX decisions_workflow ON decisions (workflow_id, at);

-- One row per workflow + step + phase: the intent is written before the action runs, the
-- outcome after, so a retried activity never runs the action twice.
CREATE TABLE mitigation_runs (
  workflow_id text NOT NULL,
  step        text NOT NULL,
  phase       text NOT NULL CHECK (phase IN ('apply', 'undo')),
  approved_by text NOT NULL,
  action      jsonb NOT NULL,
  intent_at   timestamptz NOT NULL DEFAULT now(),
  outcome     text CHECK (outcome IN ('succeeded', 'failed')),
  exit_code   integer,
  output      text,
  finished_at timestamptz,
  PRIMARY KEY (workflow_id, step, phase)
);

CREATE TABLE change_events (
  id          bigserial PRIMARY KEY,
  service     text NOT NULL,
  environment text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('deploy', 'config', 'secret', 'migration', 'flag')),
  version     text,
  description text,
  actor       text,
  at          timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_events_lookup ON change_events (service, environment, at DESC);

CREATE TABLE alert_receipts (
  id          bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  alertname   text NOT NULL,
  status      text NOT NULL,
  alert_key   text NOT NULL,
  labels      jsonb NOT NULL,
  annotations jsonb NOT NULL,
  runbook     text,
  workflow_id text,
  outcome     text NOT NULL CHECK (outcome IN ('started', 'joined', 'ignored')),
  reason      text
);
CREATE INDEX alert_receipts_workflow ON alert_receipts (workflow_id);

CREATE TABLE follow_ups (
  id          bigserial PRIMARY KEY,
  workflow_id text NOT NULL,
  runbook     text NOT NULL,
  task        text NOT NULL,
  due_at      timestamptz NOT NULL,
  reminded_at timestamptz
);
