-- The gateway calls each domain service with that service's own identity key for the workspace
-- (a service whose domain uses OAuth providers may read their tokens with it), not one key for all.
ALTER TABLE gateway_service_keys ADD COLUMN service text NOT NULL DEFAULT 'all';
ALTER TABLE gateway_service_keys DROP CONSTRAINT gateway_service_keys_pkey;
ALTER TABLE gateway_service_keys ADD PRIMARY KEY (workspace_id, service);
