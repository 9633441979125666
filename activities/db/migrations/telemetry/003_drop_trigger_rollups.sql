-- The cost rollups moved to the project's own store (store/005, the telemetry-rollup workflow),
-- which only reads the app's tables: an app database needs no triggers, functions or tables of
-- ours. Where 002 was applied (the embedded default, drills' scratch databases) they go.
DROP TRIGGER IF EXISTS inference_events_rollup ON inference_events;
DROP TRIGGER IF EXISTS inference_events_truncate_rollups ON inference_events;
DROP TRIGGER IF EXISTS tool_calls_rollup ON tool_calls;
DROP TRIGGER IF EXISTS tool_calls_truncate_rollups ON tool_calls;
DROP FUNCTION IF EXISTS telemetry_rollup_inference();
DROP FUNCTION IF EXISTS telemetry_rollup_tool_calls();
DROP FUNCTION IF EXISTS telemetry_truncate_inference_rollups();
DROP FUNCTION IF EXISTS telemetry_truncate_tool_rollups();
DROP FUNCTION IF EXISTS telemetry_rebuild_rollups();
DROP TABLE IF EXISTS inference_hourly, inference_hourly_users, inference_hourly_user_counts, inference_hourly_tokens,
  tool_calls_hourly;
