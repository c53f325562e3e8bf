-- The CRM's change feed: what the domain services act on, appended in the same transaction as the
-- change itself, so nothing is lost while a service is down. One pending row per (workspace, kind,
-- subject): a burst of changes to one list is one row whose `version` counts on, and a consumer
-- marks a row handled only if no change arrived while it worked (else it runs again).
CREATE TABLE crm_changes (
    id            bigserial PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind          text NOT NULL,
    subject_id    uuid NOT NULL,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    changed_at    timestamptz NOT NULL DEFAULT now(),
    leased_until  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    handled_at    timestamptz
);
CREATE UNIQUE INDEX crm_changes_pending ON crm_changes (workspace_id, kind, subject_id) WHERE handled_at IS NULL;
CREATE INDEX crm_changes_due ON crm_changes (kind, id) WHERE handled_at IS NULL;

-- Appends (or bumps) the pending change of each (workspace, subject) given, and wakes consumers.
CREATE FUNCTION crm_change(change_kind text, workspaces uuid[], subjects uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crm_changes AS c (workspace_id, kind, subject_id)
    SELECT DISTINCT w, change_kind, s FROM unnest(workspaces, subjects) AS u(w, s)
    ON CONFLICT (workspace_id, kind, subject_id) WHERE handled_at IS NULL
    DO UPDATE SET version = c.version + 1, changed_at = now();
    IF FOUND THEN PERFORM pg_notify('crm_changes', change_kind); END IF;
END $$;

-- One row changed: a change of the kind the trigger names (its first argument).
CREATE FUNCTION crm_change_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_change(TG_ARGV[0], ARRAY[NEW.workspace_id], ARRAY[NEW.id]);
    RETURN NULL;
END $$;

-- A deal won (created won, or moved to won).
CREATE TRIGGER deals_won_insert AFTER INSERT ON deals FOR EACH ROW
    WHEN (NEW.stage = 'closed_won') EXECUTE FUNCTION crm_change_row('deal.closed_won');
CREATE TRIGGER deals_won_update AFTER UPDATE OF stage ON deals FOR EACH ROW
    WHEN (NEW.stage = 'closed_won' AND OLD.stage IS DISTINCT FROM 'closed_won') EXECUTE FUNCTION crm_change_row('deal.closed_won');

-- A list's membership, or a field a list sync sends of one of its members. Statement-level, so a
-- 5,000-row change costs one statement here, not 5,000.
CREATE FUNCTION crm_change_list_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_change('list.changed', array_agg(workspace_id), array_agg(list_id))
    FROM (SELECT DISTINCT workspace_id, list_id FROM changed_members) AS lists;
    RETURN NULL;
END $$;
CREATE TRIGGER contact_list_members_added AFTER INSERT ON contact_list_members
    REFERENCING NEW TABLE AS changed_members FOR EACH STATEMENT EXECUTE FUNCTION crm_change_list_members();
CREATE TRIGGER contact_list_members_removed AFTER DELETE ON contact_list_members
    REFERENCING OLD TABLE AS changed_members FOR EACH STATEMENT EXECUTE FUNCTION crm_change_list_members();

CREATE FUNCTION crm_change_list_member_fields() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_change('list.changed', array_agg(workspace_id), array_agg(list_id))
    FROM (SELECT DISTINCT m.workspace_id, m.list_id
          FROM new_contacts n JOIN old_contacts o ON o.id = n.id
          JOIN contact_list_members m ON m.workspace_id = n.workspace_id AND m.contact_id = n.id
          WHERE (n.email, n.first_name, n.last_name, n.phone, n.tags, n.account_id)
                IS DISTINCT FROM (o.email, o.first_name, o.last_name, o.phone, o.tags, o.account_id)) AS lists;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_list_member_fields AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_contacts NEW TABLE AS new_contacts FOR EACH STATEMENT EXECUTE FUNCTION crm_change_list_member_fields();

-- A ticket marked for escalation to the helpdesk.
ALTER TABLE tickets ADD COLUMN escalate boolean NOT NULL DEFAULT false;
CREATE TRIGGER tickets_escalated_insert AFTER INSERT ON tickets FOR EACH ROW
    WHEN (NEW.escalate) EXECUTE FUNCTION crm_change_row('ticket.escalated');
CREATE TRIGGER tickets_escalated_update AFTER UPDATE OF escalate ON tickets FOR EACH ROW
    WHEN (NEW.escalate AND NOT OLD.escalate) EXECUTE FUNCTION crm_change_row('ticket.escalated');

-- A meeting created or edited in the CRM (one synced in from a calendar has a source).
CREATE TRIGGER meetings_changed_insert AFTER INSERT ON meetings FOR EACH ROW
    WHEN (NEW.source IS NULL) EXECUTE FUNCTION crm_change_row('meeting.changed');
CREATE TRIGGER meetings_changed_update AFTER UPDATE ON meetings FOR EACH ROW
    WHEN (NEW.source IS NULL AND (NEW.title, NEW.starts_at, NEW.ends_at, NEW.location, NEW.status)
          IS DISTINCT FROM (OLD.title, OLD.starts_at, OLD.ends_at, OLD.location, OLD.status))
    EXECUTE FUNCTION crm_change_row('meeting.changed');
