-- Mail the CRM sends through a mailbox, by the Message-ID we give it (derived from the caller's
-- idempotency key). A send claims its row first; a retried SendEmail finds the claim or the
-- finished send here and never sends twice.
CREATE TABLE sent_mail (
    workspace_id      uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    message_id        text NOT NULL,
    connection_id     uuid NOT NULL,
    claimed_at        timestamptz NOT NULL DEFAULT now(),
    -- Set once Gmail accepted it.
    gmail_message_id  text,
    thread_id         text,
    activity_id       uuid,
    sent_at           timestamptz,
    PRIMARY KEY (workspace_id, message_id)
);

-- A mailbox whose connection needs the user (reauth_required, disconnected) is paused: pushes and
-- ticks are acknowledged without work until the connection is made again, which resumes it from
-- its cursor.
ALTER TABLE mailboxes ADD COLUMN paused_at timestamptz;
