-- Why a mailbox's last pass failed, as a class the operator acts on: auth (the connection needs
-- the user), quota (rate limited; resumes by itself), provider_unavailable (retrying).
ALTER TABLE mailboxes ADD COLUMN failure_class text CHECK (failure_class IN ('auth', 'quota', 'provider_unavailable'));
