-- Which import created a contact and which one wrote it last, kept on the contact itself: undo
-- finds the contacts a job created without a journal row per created contact (an import then
-- writes each new contact once). `last_import_at` is that job's write time, so a later change by
-- anyone else (a newer `updated_at`) is detected and the contact left alone.
ALTER TABLE contacts
    ADD COLUMN created_by_import uuid,
    ADD COLUMN last_import_job   uuid,
    ADD COLUMN last_import_at    timestamptz;

-- Journal rows of earlier jobs move onto the contacts: creations become the column, and each
-- contact remembers the newest job that wrote it.
UPDATE contacts c SET created_by_import = ch.job_id
FROM import_changes ch WHERE ch.action = 'created' AND ch.contact_id = c.id;
UPDATE contacts c SET last_import_job = latest.job_id, last_import_at = latest.written_at
FROM (SELECT DISTINCT ON (contact_id) contact_id, job_id, written_at FROM import_changes
      WHERE written_at IS NOT NULL ORDER BY contact_id, written_at DESC) AS latest
WHERE latest.contact_id = c.id;
DELETE FROM import_changes WHERE action = 'created';

-- An import that updates a contact journals what the contact held before, once per job, so undo
-- can restore it. It fires only when an import writes the contact (its import stamp changes) and
-- the contact is not one the same job created (undo deletes those): importing new contacts writes
-- each one once, with no journal row.
CREATE FUNCTION journal_import_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.created_by_import IS DISTINCT FROM NEW.last_import_job THEN
        INSERT INTO import_changes (job_id, workspace_id, contact_id, action, previous)
        VALUES (NEW.last_import_job, OLD.workspace_id, OLD.id, 'updated',
                jsonb_build_object('first_name', OLD.first_name, 'last_name', OLD.last_name, 'phone', OLD.phone,
                                   'title', OLD.title, 'account_id', OLD.account_id, 'tags', to_jsonb(OLD.tags),
                                   'custom', OLD.custom))
        ON CONFLICT (job_id, contact_id) DO NOTHING;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER contacts_journal_import_update BEFORE UPDATE ON contacts FOR EACH ROW
    WHEN (NEW.last_import_job IS NOT NULL AND NEW.last_import_at IS DISTINCT FROM OLD.last_import_at)
    EXECUTE FUNCTION journal_import_update();
