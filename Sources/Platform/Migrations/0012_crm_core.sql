-- The CRM core module (Sources/CRM): debounced alerts and last_contacted.

-- An alert kind with a debounce window counts repeats on its open alert instead of adding more:
-- how many times it was raised, and when last (its message and data are the latest cause's).
ALTER TABLE alerts
    ADD COLUMN occurrences    integer NOT NULL DEFAULT 1,
    ADD COLUMN last_raised_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX alerts_open ON alerts (workspace_id, account_id, kind, created_at DESC) WHERE resolved_at IS NULL;

-- When someone last interacted with the person (mail, meeting, call), moved forward only.
ALTER TABLE contacts ADD COLUMN last_contacted_at timestamptz;
ALTER TABLE leads ADD COLUMN last_contacted_at timestamptz;
