-- One Gmail mailbox per Google connection: where its sync stands.
CREATE TABLE mailboxes (
    connection_id     uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    owner_email       text NOT NULL,
    -- Gmail's history cursor: everything up to it is stored.
    history_id        bigint,
    watch_expires_at  timestamptz,
    state             text NOT NULL DEFAULT 'initial_sync' CHECK (state IN ('initial_sync', 'active', 'failed')),
    failure           text,
    last_synced_at    timestamptz,
    messages_seen     bigint NOT NULL DEFAULT 0,
    messages_stored   bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mailboxes_workspace ON mailboxes (workspace_id);
