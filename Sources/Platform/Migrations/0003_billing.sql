-- Billing: the outbox of Stripe work queued by DealClosed, and the explainable health score.

CREATE TABLE billing_jobs (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    deal_id          uuid NOT NULL,
    kind             text NOT NULL DEFAULT 'deal_closed',
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, deal_id, kind),
    FOREIGN KEY (workspace_id, deal_id) REFERENCES deals (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX billing_jobs_due ON billing_jobs (next_attempt_at) WHERE status = 'pending';

-- Every change of an account's health score, with its cause: the score explains itself.
CREATE TABLE account_health_events (
    id            bigserial PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id    uuid NOT NULL,
    cause         text NOT NULL,
    source        text,
    event_id      text,
    delta         integer NOT NULL,
    score_before  integer NOT NULL,
    score_after   integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, account_id) REFERENCES accounts (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX account_health_events_account ON account_health_events (workspace_id, account_id, id);

-- The provider time of the subscription state an account holds: an older event never overwrites it.
ALTER TABLE accounts ADD COLUMN stripe_state_at timestamptz;
-- The same for the payment status that invoice events set.
ALTER TABLE accounts ADD COLUMN payment_state_at timestamptz;
CREATE INDEX accounts_stripe_customer ON accounts (workspace_id, stripe_customer_id);
