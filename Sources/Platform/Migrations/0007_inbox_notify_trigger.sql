-- Dispatchers are woken by the statement that stores events, in its own transaction: one round
-- trip per stored batch instead of two. (Replays, which update rows, still notify themselves.)
CREATE FUNCTION notify_webhook_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webhook_inbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_inbox_notify AFTER INSERT ON webhook_inbox FOR EACH STATEMENT EXECUTE FUNCTION notify_webhook_inbox();
