-- The CRM tables Nexa Integrations touches. Every row belongs to a workspace.
CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE workspaces (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email         citext NOT NULL,
    name          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, email),
    UNIQUE (workspace_id, id)
);

CREATE TABLE accounts (
    id                        uuid PRIMARY KEY,
    workspace_id              uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                      text NOT NULL,
    normalized_name           text NOT NULL,
    domain                    text,
    health_score              integer NOT NULL DEFAULT 70 CHECK (health_score BETWEEN 0 AND 100),
    churn_risk                text NOT NULL DEFAULT 'low' CHECK (churn_risk IN ('low', 'medium', 'high')),
    payment_status            text NOT NULL DEFAULT 'none' CHECK (payment_status IN ('none', 'current', 'overdue')),
    stripe_customer_id        text,
    stripe_subscription_id    text,
    subscription_status       text,
    mrr_cents                 bigint NOT NULL DEFAULT 0,
    currency                  text,
    next_billing_date         timestamptz,
    last_payment_date         timestamptz,
    csm_user_id               uuid,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, normalized_name),
    FOREIGN KEY (workspace_id, csm_user_id) REFERENCES users (workspace_id, id)
);

CREATE TABLE contacts (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id    uuid,
    email         citext NOT NULL,
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    phone         text,
    title         text,
    tags          text[] NOT NULL DEFAULT '{}',
    custom        jsonb NOT NULL DEFAULT '{}',
    engagement_score integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, email),
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, account_id) REFERENCES accounts (workspace_id, id)
);

CREATE TABLE leads (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email         citext NOT NULL,
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    company       text,
    status        text NOT NULL DEFAULT 'new',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, email),
    UNIQUE (workspace_id, id)
);

CREATE TABLE deals (
    id                  uuid PRIMARY KEY,
    workspace_id        uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id          uuid NOT NULL,
    primary_contact_id  uuid,
    name                text NOT NULL,
    stage               text NOT NULL DEFAULT 'open',
    amount_cents        bigint NOT NULL DEFAULT 0,
    currency            text NOT NULL DEFAULT 'usd',
    closed_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, account_id) REFERENCES accounts (workspace_id, id),
    FOREIGN KEY (workspace_id, primary_contact_id) REFERENCES contacts (workspace_id, id)
);

CREATE TABLE deal_line_items (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    deal_id          uuid NOT NULL,
    stripe_price_id  text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    FOREIGN KEY (workspace_id, deal_id) REFERENCES deals (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE activities (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind          text NOT NULL,
    subject       text NOT NULL DEFAULT '',
    body          text,
    contact_id    uuid,
    lead_id       uuid,
    account_id    uuid,
    deal_id       uuid,
    occurred_at   timestamptz NOT NULL,
    source        text,
    external_id   text,
    data          jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, source, external_id)
);
CREATE INDEX activities_contact ON activities (workspace_id, contact_id, occurred_at DESC);
CREATE INDEX activities_account ON activities (workspace_id, account_id, occurred_at DESC);

CREATE TABLE meetings (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    title         text NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    location      text,
    conference_url text,
    status        text NOT NULL DEFAULT 'confirmed',
    source        text,
    external_id   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, source, external_id),
    CHECK (ends_at >= starts_at)
);

CREATE TABLE meeting_attendees (
    workspace_id  uuid NOT NULL,
    meeting_id    uuid NOT NULL,
    email         citext NOT NULL,
    contact_id    uuid,
    response      text NOT NULL DEFAULT 'needsAction',
    PRIMARY KEY (workspace_id, meeting_id, email),
    FOREIGN KEY (workspace_id, meeting_id) REFERENCES meetings (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE tasks (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind          text NOT NULL,
    title         text NOT NULL,
    priority      text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'urgent')),
    status        text NOT NULL DEFAULT 'open',
    due_date      date,
    assignee_user_id uuid,
    account_id    uuid,
    contact_id    uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind          text NOT NULL,
    severity      text NOT NULL DEFAULT 'normal' CHECK (severity IN ('info', 'normal', 'urgent')),
    message       text NOT NULL,
    account_id    uuid,
    recipient_user_id uuid,
    data          jsonb NOT NULL DEFAULT '{}',
    resolved_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tickets (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    subject       text NOT NULL,
    status        text NOT NULL DEFAULT 'open',
    priority      text NOT NULL DEFAULT 'normal',
    contact_id    uuid,
    account_id    uuid,
    source        text,
    external_id   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, source, external_id)
);

CREATE TABLE campaigns (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          text NOT NULL,
    source        text,
    external_id   text,
    sent_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, source, external_id)
);

CREATE TABLE contact_lists (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, name)
);

CREATE TABLE contact_list_members (
    workspace_id  uuid NOT NULL,
    list_id       uuid NOT NULL,
    contact_id    uuid NOT NULL,
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, list_id, contact_id),
    FOREIGN KEY (workspace_id, list_id) REFERENCES contact_lists (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id) ON DELETE CASCADE
);

-- API keys: only the SHA-256 of the secret is stored; the key is shown once at creation.
CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          text NOT NULL,
    secret_hash   bytea NOT NULL,
    services      text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);
