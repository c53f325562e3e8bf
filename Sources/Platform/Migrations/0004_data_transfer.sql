-- Data transfer: import jobs with progress committed batch by batch (so a restart resumes with
-- exact counts).
CREATE TABLE import_jobs (
    id                uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    entity            text NOT NULL DEFAULT 'contacts' CHECK (entity IN ('contacts')),
    status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'undone')),
    mode              text NOT NULL DEFAULT 'fail' CHECK (mode IN ('fail', 'skip')),
    dry_run           boolean NOT NULL DEFAULT false,
    blob_key          text NOT NULL,
    file_name         text NOT NULL DEFAULT '',
    mapping           jsonb,
    total             integer NOT NULL DEFAULT 0,
    rows_written      integer NOT NULL DEFAULT 0,
    created           integer NOT NULL DEFAULT 0,
    updated           integer NOT NULL DEFAULT 0,
    skipped           integer NOT NULL DEFAULT 0,
    merged            integer NOT NULL DEFAULT 0,
    problems          jsonb NOT NULL DEFAULT '[]',
    error             text,
    cancel_requested  boolean NOT NULL DEFAULT false,
    notify_email      text,
    template          text,
    save_template     text,
    mapping_source    text,
    errors_blob_key   text,
    lease_until       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE INDEX import_jobs_due ON import_jobs (created_at) WHERE status IN ('queued', 'running');

-- Named mappings, remembered with the header set they were made for: a later file with the same
-- headers gets the same mapping without asking.
CREATE TABLE import_mapping_templates (
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          text NOT NULL,
    signature     text NOT NULL,
    mapping       jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, name)
);
CREATE INDEX import_mapping_templates_signature ON import_mapping_templates (workspace_id, signature, updated_at DESC);

-- What each import job changed, for undo: contacts it created, and the values of those it updated
-- as they were before the job first touched them; `written_at` is the job's last write, so a later
-- change by anyone else is detected and the row left alone.
CREATE TABLE import_changes (
    job_id        uuid NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    workspace_id  uuid NOT NULL,
    contact_id    uuid NOT NULL,
    action        text NOT NULL CHECK (action IN ('created', 'updated')),
    previous      jsonb,
    written_at    timestamptz,
    PRIMARY KEY (job_id, contact_id)
);
