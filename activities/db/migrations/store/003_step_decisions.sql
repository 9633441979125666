-- Who decided what on each step (by, decision, at, comment, authenticated), beside its outcome:
-- the step row alone says who approved, skipped or acknowledged it.
ALTER TABLE incident_steps ADD COLUMN decisions jsonb NOT NULL DEFAULT '[]'::jsonb;
