-- The LLM app's telemetry, with the columns the cost-spike runbook's SQL reads. Columns beyond
-- those are nullable so an app that writes only the seed's columns works.
CREATE TABLE IF NOT EXISTS inference_events (
  id            bigserial PRIMARY KEY,
  created_at    timestamptz NOT NULL DEFAULT now(),
  user_id       text,
  feature       text,
  trigger_type  text,
  input_tokens  integer NOT NULL DEFAULT 0,
  output_tokens integer NOT NULL DEFAULT 0,
  cost_usd      numeric(12, 6) NOT NULL DEFAULT 0,
  model         text,
  request_id    text,
  user_agent    text,
  tenant        text,
  api_key_id    text
);
CREATE INDEX IF NOT EXISTS inference_events_created_at ON inference_events (created_at);

CREATE TABLE IF NOT EXISTS tool_calls (
  id         bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  tool_name  text NOT NULL,
  success    boolean NOT NULL,
  retries    integer NOT NULL DEFAULT 0,
  latency_ms integer,
  request_id text
);
CREATE INDEX IF NOT EXISTS tool_calls_created_at ON tool_calls (created_at);

CREATE TABLE IF NOT EXISTS feature_flags (
  feature    text PRIMARY KEY,
  enabled    boolean NOT NULL DEFAULT false,
  value      text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text
);
