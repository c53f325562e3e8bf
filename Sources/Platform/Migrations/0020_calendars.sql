-- Meetings synced from (or sent to) a provider calendar: the provider's event id, what the CRM
-- shows of the event, and the prep task that goes with it.
ALTER TABLE meetings ADD COLUMN description text;
ALTER TABLE meetings ADD COLUMN all_day boolean NOT NULL DEFAULT false;
ALTER TABLE meetings ADD COLUMN account_id uuid;
-- The provider calendar's event (`google_calendar` event id): set for meetings read from a calendar
-- and for meetings the CRM made there, so the push that follows finds the same meeting.
ALTER TABLE meetings ADD COLUMN calendar_event_id text;
ALTER TABLE meetings ADD COLUMN last_synced_at timestamptz;
CREATE UNIQUE INDEX meetings_calendar_event ON meetings (workspace_id, calendar_event_id) WHERE calendar_event_id IS NOT NULL;

ALTER TABLE meeting_attendees ADD COLUMN lead_id uuid;
ALTER TABLE meeting_attendees ADD COLUMN name text;

-- A task about a meeting ("Prepare for: …"), due at a time.
ALTER TABLE tasks ADD COLUMN meeting_id uuid;
ALTER TABLE tasks ADD COLUMN due_at timestamptz;
CREATE UNIQUE INDEX tasks_meeting_kind ON tasks (workspace_id, meeting_id, kind) WHERE meeting_id IS NOT NULL;

-- One Google calendar (the primary) per Google connection with calendar scopes: where its sync stands.
CREATE TABLE calendars (
    connection_id       uuid PRIMARY KEY,
    workspace_id        uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    owner_email         text NOT NULL,
    -- The CRM user whose calendar it is (prep tasks are theirs).
    owner_user_id       uuid,
    -- events.list's nextSyncToken: everything up to it is stored.
    sync_token          text,
    -- The notification channel (events.watch) and the gateway endpoint its pushes reach.
    channel_id          text,
    channel_resource_id text,
    channel_expires_at  timestamptz,
    endpoint_id         text,
    state               text NOT NULL DEFAULT 'initial_sync' CHECK (state IN ('initial_sync', 'active', 'failed')),
    failure_class       text,
    failure             text,
    paused_at           timestamptz,
    last_synced_at      timestamptz,
    events_seen         bigint NOT NULL DEFAULT 0,
    meetings_stored     bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calendars_workspace ON calendars (workspace_id);
CREATE UNIQUE INDEX calendars_channel ON calendars (channel_id) WHERE channel_id IS NOT NULL;
