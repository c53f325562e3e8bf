-- Leads and accounts are imported the way contacts are: each remembers the import that created
-- it and the one that wrote it last, and an import's first update of a record journals what it
-- held before (undo restores it). The journal's `contact_id` becomes `record_id`: a job imports
-- one entity, named by `import_jobs.entity`.
ALTER TABLE import_jobs DROP CONSTRAINT import_jobs_entity_check;
ALTER TABLE import_jobs ADD CONSTRAINT import_jobs_entity_check CHECK (entity IN ('contacts', 'leads', 'accounts'));
ALTER TABLE import_changes RENAME COLUMN contact_id TO record_id;

ALTER TABLE leads
    ADD COLUMN created_by_import uuid,
    ADD COLUMN last_import_job   uuid,
    ADD COLUMN last_import_at    timestamptz;
ALTER TABLE accounts
    ADD COLUMN created_by_import uuid,
    ADD COLUMN last_import_job   uuid,
    ADD COLUMN last_import_at    timestamptz;

CREATE OR REPLACE FUNCTION journal_import_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.created_by_import IS DISTINCT FROM NEW.last_import_job THEN
        INSERT INTO import_changes (job_id, workspace_id, record_id, action, previous)
        VALUES (NEW.last_import_job, OLD.workspace_id, OLD.id, 'updated',
                jsonb_build_object('first_name', OLD.first_name, 'last_name', OLD.last_name, 'phone', OLD.phone,
                                   'title', OLD.title, 'account_id', OLD.account_id, 'tags', to_jsonb(OLD.tags),
                                   'custom', OLD.custom))
        ON CONFLICT (job_id, record_id) DO NOTHING;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION journal_lead_import_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.created_by_import IS DISTINCT FROM NEW.last_import_job THEN
        INSERT INTO import_changes (job_id, workspace_id, record_id, action, previous)
        VALUES (NEW.last_import_job, OLD.workspace_id, OLD.id, 'updated',
                jsonb_build_object('first_name', OLD.first_name, 'last_name', OLD.last_name, 'company', OLD.company,
                                   'status', OLD.status))
        ON CONFLICT (job_id, record_id) DO NOTHING;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER leads_journal_import_update BEFORE UPDATE ON leads FOR EACH ROW
    WHEN (NEW.last_import_job IS NOT NULL AND NEW.last_import_at IS DISTINCT FROM OLD.last_import_at)
    EXECUTE FUNCTION journal_lead_import_update();

CREATE FUNCTION journal_account_import_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.created_by_import IS DISTINCT FROM NEW.last_import_job THEN
        INSERT INTO import_changes (job_id, workspace_id, record_id, action, previous)
        VALUES (NEW.last_import_job, OLD.workspace_id, OLD.id, 'updated', jsonb_build_object('domain', OLD.domain))
        ON CONFLICT (job_id, record_id) DO NOTHING;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_journal_import_update BEFORE UPDATE ON accounts FOR EACH ROW
    WHEN (NEW.last_import_job IS NOT NULL AND NEW.last_import_at IS DISTINCT FROM OLD.last_import_at)
    EXECUTE FUNCTION journal_account_import_update();
