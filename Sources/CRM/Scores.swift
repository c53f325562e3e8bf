public import Foundation
public import Postgres

/// Engagement scores (contacts) and lead scores (leads, and contacts that are leads), recomputed
/// from stored activity with `ScoreModel` and stored on the record.
public enum Scores {
    /// Recomputes and stores a contact's `engagement_score` from its activities up to `now`.
    /// - Returns: the breakdown, or nil when the workspace has no such contact.
    @discardableResult
    public static func recalculateEngagement(
        contact: UUID, workspace: UUID, asOf now: Date = Date(), model: ScoreModel = .standard, in db: PostgresConnectionHandle
    ) async throws -> ScoreBreakdown? {
        guard try await !db.query("SELECT 1 FROM contacts WHERE id = \(contact) AND workspace_id = \(workspace) FOR UPDATE").isEmpty else { return nil }
        let activity = try await ScoreModel.Activity(row: db.query("""
            SELECT \(unescaped: countedColumns) FROM activities a
            WHERE a.workspace_id = \(workspace) AND a.contact_id = \(contact) AND a.occurred_at <= \(now)
            """)[0])
        let breakdown = model.engagement(activity, asOf: now)
        try await db.execute("UPDATE contacts SET engagement_score = \(breakdown.total) WHERE id = \(contact) AND workspace_id = \(workspace)")
        return breakdown
    }

    /// Recomputes and stores a lead's `lead_score`: its activities and those of the contacts with
    /// its address (a contact that is a lead), up to `now`, its status and company.
    /// - Returns: the breakdown, or nil when the workspace has no such lead.
    @discardableResult
    public static func recalculateLead(
        lead: UUID, workspace: UUID, asOf now: Date = Date(), model: ScoreModel = .standard, in db: PostgresConnectionHandle
    ) async throws -> ScoreBreakdown? {
        guard let row = try await db.query("""
            SELECT status, coalesce(company, '') <> '' FROM leads WHERE id = \(lead) AND workspace_id = \(workspace) FOR UPDATE
            """).first else { return nil }
        let activity = try await ScoreModel.Activity(row: db.query("""
            SELECT \(unescaped: countedColumns) FROM activities a
            WHERE a.workspace_id = \(workspace) AND a.occurred_at <= \(now)
              AND (a.lead_id = \(lead) OR a.contact_id IN (SELECT c.id FROM contacts c JOIN leads l ON l.workspace_id = c.workspace_id AND l.email = c.email
                                                          WHERE l.id = \(lead) AND l.workspace_id = \(workspace)))
            """)[0])
        let breakdown = model.lead(activity, status: try row.decode(at: 0), hasCompany: try row.decode(at: 1), asOf: now)
        try await db.execute("UPDATE leads SET lead_score = \(breakdown.total) WHERE id = \(lead) AND workspace_id = \(workspace)")
        return breakdown
    }

    /// What the model counts of the activities `a` (code, not values: spliced into both queries).
    static let countedColumns = """
        count(*) FILTER (WHERE kind = 'email' AND data->>'direction' = 'inbound'),
        count(*) FILTER (WHERE kind = 'meeting'),
        count(*) FILTER (WHERE kind = 'email_clicked'),
        count(*) FILTER (WHERE kind = 'email_opened'),
        max(occurred_at) FILTER (WHERE (kind = 'email' AND data->>'direction' = 'inbound') OR kind IN ('meeting', 'email_clicked', 'email_opened'))
        """
}

extension ScoreModel.Activity {
    /// A row of `Scores.countedColumns`.
    init(row: PostgresRow) throws {
        self.init(replies: try row.decode(at: 0), meetings: try row.decode(at: 1), clicks: try row.decode(at: 2), opens: try row.decode(at: 3),
                  lastInteraction: try row.decodeIfPresent(at: 4))
    }
}
