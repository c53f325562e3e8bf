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
