-- Billing finds an account by its Stripe customer; most accounts have none. Indexing only those
-- that do keeps the index small, and leaves (workspace_id, normalized_name) the only index an
-- account lookup by workspace can use: with the full index, a lookup by name in a workspace the
-- statistics did not know yet went through this index and filtered every account by name.
DROP INDEX accounts_stripe_customer;
CREATE INDEX accounts_stripe_customer ON accounts (workspace_id, stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;
