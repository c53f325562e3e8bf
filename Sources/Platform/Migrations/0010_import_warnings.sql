-- Rows an import read leniently, as spreadsheets do (a quote inside an unquoted cell kept as a
-- literal quote): imported, and reported beside the problems so a person can check them.
ALTER TABLE import_jobs
    ADD COLUMN rows_with_warnings integer NOT NULL DEFAULT 0,
    ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]';
