-- A connect flow belongs to the browser that started it: the hash of a random value set in a
-- cookie at start, required back at the callback. Rows from before have none and simply expire.
ALTER TABLE oauth_states ADD COLUMN browser_hash bytea;

-- Connect links are single-use: the hash of each used link's nonce, kept until the link would
-- have expired anyway.
CREATE TABLE connect_link_uses (
    nonce_hash    bytea PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX connect_link_uses_expires ON connect_link_uses (expires_at);
