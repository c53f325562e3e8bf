-- Gateway: webhook endpoints and inbox, the effect ledger, OAuth connections and the token vault.

-- Where a provider delivers webhooks: the id is the last path segment of the URL we register with
-- the provider. `secret` is sealed with the vault key `secret_key_id` (AES-256-GCM); `config`
-- holds the endpoint's public parameters (audience, allowed service account, public key, webhook id).
CREATE TABLE webhook_endpoints (
    id             text PRIMARY KEY,
    workspace_id   uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    provider       text NOT NULL CHECK (provider IN ('stripe', 'google_pubsub', 'google_calendar', 'microsoft_graph',
                                                     'mailchimp', 'sendgrid', 'zendesk', 'intercom', 'paypal')),
    secret         bytea,
    secret_key_id  text,
    config         jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints (workspace_id);

-- Every verified delivery, committed before the provider gets its 2xx. One row per provider
-- event id and workspace: a redelivery is acknowledged and not stored again.
CREATE TABLE webhook_inbox (
    id               bigserial PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    endpoint_id      text NOT NULL,
    provider         text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL DEFAULT '',
    headers          jsonb NOT NULL DEFAULT '{}',
    body             bytea NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    delivered_at     timestamptz,
    UNIQUE (workspace_id, provider, event_id)
);
CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at, id) WHERE status = 'pending';
-- Rows arrive in time order: a BRIN index serves replays by time range at almost no write cost.
CREATE INDEX webhook_inbox_received ON webhook_inbox USING brin (received_at);

-- Exactly-once effects: a domain handler inserts (source, event id, effect) in the same
-- transaction as its CRM write; a second insert of the same key means "already applied".
CREATE TABLE effect_ledger (
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    source        text NOT NULL,
    event_id      text NOT NULL,
    effect        text NOT NULL,
    applied_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, source, event_id, effect)
);

-- OAuth `state` values: only their SHA-256 is stored; single use, short-lived, bound to the
-- workspace, the user and the PKCE verifier (sealed).
CREATE TABLE oauth_states (
    state_hash      bytea PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    provider        text NOT NULL,
    code_verifier   bytea NOT NULL,
    key_id          text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);

-- A user's connection to a provider account. Tokens are sealed with AES-256-GCM under the vault
-- key `key_id`, with the connection id as associated data.
CREATE TABLE oauth_connections (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    provider        text NOT NULL,
    account_email   citext NOT NULL,
    scopes          text[] NOT NULL,
    access_token    bytea,
    refresh_token   bytea,
    key_id          text,
    expires_at      timestamptz,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'reauth_required', 'disconnected')),
    refreshed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, provider, account_email),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);

-- The API key the gateway uses to call domain services for a workspace (sealed).
CREATE TABLE gateway_service_keys (
    workspace_id  uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    sealed_key    bytea NOT NULL,
    key_id        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
