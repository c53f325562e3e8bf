-- Lead scores (CRM `Scores.recalculateLead`), and the index that finds a lead's activities.
ALTER TABLE leads ADD COLUMN lead_score integer NOT NULL DEFAULT 0;
CREATE INDEX activities_lead ON activities (workspace_id, lead_id, occurred_at DESC) WHERE lead_id IS NOT NULL;
