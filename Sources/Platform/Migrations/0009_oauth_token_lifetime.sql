-- The lifetime the provider gave the current access token (its expires_in), so the gateway's
-- refresh window can scale with it: a 2-minute token is not refreshed on every call.
-- NULL for tokens stored before this column: they keep the fixed 5-minute window.
ALTER TABLE oauth_connections ADD COLUMN token_lifetime_seconds integer CHECK (token_lifetime_seconds > 0);
