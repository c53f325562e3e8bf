public import Foundation
public import Postgres

/// The CRM's records, created as the CRM creates them (so their triggers, and the change feed,
/// see what a user's edit would make), listed and shown; for `nexactl crm` and tests.
public enum Records {
    /// An account name as accounts are found again by it (`normalized_name`): white space
    /// collapsed, trimmed, lower-cased.
    public static func normalizedAccountName(_ name: String) -> String {
        name.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased()
    }

    /// Adds an account; returns its id.
    public static func addAccount(name: String, domain: String? = nil, csm: UUID? = nil, workspace: UUID, in db: PostgresConnectionHandle) async throws -> UUID {
        let normalized = normalizedAccountName(name)
        guard !normalized.isEmpty else { throw CRMError(.invalidArgument, "an account needs a name") }
        let id = UUID()
        try await db.execute("""
            INSERT INTO accounts (id, workspace_id, name, normalized_name, domain, csm_user_id)
            VALUES (\(id), \(workspace), \(String(name.trimmingWhitespace())), \(normalized), \(domain), \(csm))
            """)
        return id
    }

    /// Adds a contact; returns its id.
    public static func addContact(
        email: String, firstName: String = "", lastName: String = "", account: UUID? = nil, workspace: UUID, in db: PostgresConnectionHandle
    ) async throws -> UUID {
        let id = UUID()
        try await db.execute("""
            INSERT INTO contacts (id, workspace_id, email, first_name, last_name, account_id)
            VALUES (\(id), \(workspace), \(try address(email)), \(firstName), \(lastName), \(account))
            """)
        return id
    }

    /// Adds a lead; returns its id.
    public static func addLead(
        email: String, firstName: String = "", lastName: String = "", company: String? = nil, status: String = "new",
        workspace: UUID, in db: PostgresConnectionHandle
    ) async throws -> UUID {
        let id = UUID()
        try await db.execute("""
            INSERT INTO leads (id, workspace_id, email, first_name, last_name, company, status)
            VALUES (\(id), \(workspace), \(try address(email)), \(firstName), \(lastName), \(company), \(status))
            """)
        return id
    }

    /// One billed item of a deal: a provider price id and a quantity.
    public struct LineItem: Sendable, Hashable {
        public var price: String
        public var quantity: Int

        public init(price: String, quantity: Int) {
            self.price = price
            self.quantity = quantity
        }
    }

    /// Adds a deal with its line items in one transaction of the caller's; returns its id. A deal
    /// added `closed_won` is a change billing acts on, as one moved there later is.
    public static func addDeal(
        name: String, account: UUID, primaryContact: UUID? = nil, stage: String = "open", amountCents: Int = 0, items: [LineItem] = [],
        workspace: UUID, in db: PostgresConnectionHandle
    ) async throws -> UUID {
        guard items.allSatisfy({ $0.quantity > 0 && !$0.price.isEmpty }) else {
            throw CRMError(.invalidArgument, "a line item needs a price and a quantity above 0")
        }
        let id = UUID()
        try await db.execute("""
            INSERT INTO deals (id, workspace_id, account_id, primary_contact_id, name, stage, amount_cents)
            VALUES (\(id), \(workspace), \(account), \(primaryContact), \(name), 'open', \(amountCents))
            """)
        for item in items {
            try await db.execute("""
                INSERT INTO deal_line_items (id, workspace_id, deal_id, stripe_price_id, quantity)
                VALUES (\(UUID()), \(workspace), \(id), \(item.price), \(item.quantity))
                """)
        }
        // The stage last, so a deal added won has its line items when billing reads it.
        if stage != "open" { try await setDealStage(id, to: stage, workspace: workspace, in: db) }
        return id
    }

    /// Moves a deal to `stage` (`closed_won` stamps `closed_at`).
    public static func setDealStage(_ deal: UUID, to stage: String, workspace: UUID, in db: PostgresConnectionHandle) async throws {
        guard try await db.execute("""
            UPDATE deals SET stage = \(stage), updated_at = now(),
              closed_at = CASE WHEN \(stage) IN ('closed_won', 'closed_lost') THEN coalesce(closed_at, now()) END
            WHERE id = \(deal) AND workspace_id = \(workspace)
            """) == 1 else { throw CRMError(.notFound, "deal \(deal) does not exist in this workspace") }
    }

    /// Adds a contact list; returns its id.
    public static func addList(name: String, workspace: UUID, in db: PostgresConnectionHandle) async throws -> UUID {
        let id = UUID()
        try await db.execute("INSERT INTO contact_lists (id, workspace_id, name) VALUES (\(id), \(workspace), \(name))")
        return id
    }

    /// Adds the contacts with these addresses to a list, in one statement (one list change).
    /// - Returns: how many were added (members already in it are left).
    /// - Throws: NOT_FOUND naming the addresses no contact of the workspace has.
    @discardableResult
    public static func addMembers(_ emails: [String], to list: UUID, workspace: UUID, in db: PostgresConnectionHandle) async throws -> Int {
        let addresses = try emails.map(address)
        let known = try await People.find(emails: addresses, workspace: workspace, in: db)
        let unknown = addresses.filter { known[$0]?.contains { $0.kind == .contact } != true }
        guard unknown.isEmpty else { throw CRMError(.notFound, "no contact has \(unknown.prefix(5).joined(separator: ", "))") }
        return try await db.execute("""
            INSERT INTO contact_list_members (workspace_id, list_id, contact_id)
            SELECT \(workspace), \(list), id FROM contacts WHERE workspace_id = \(workspace) AND email = ANY(\(PostgresTextArray(addresses))::citext[])
            ON CONFLICT DO NOTHING
            """)
    }

    /// Adds a ticket; `escalate` marks it for the helpdesk (a change support acts on).
    public static func addTicket(
        subject: String, contact: UUID? = nil, account: UUID? = nil, priority: String = "normal", escalate: Bool = false,
        workspace: UUID, in db: PostgresConnectionHandle
    ) async throws -> UUID {
        let id = UUID()
        try await db.execute("""
            INSERT INTO tickets (id, workspace_id, subject, contact_id, account_id, priority, escalate)
            VALUES (\(id), \(workspace), \(subject), \(contact), \(account), \(priority), \(escalate))
            """)
        return id
    }

    /// Adds a meeting made in the CRM (a change email & calendar acts on), its attendees linked
    /// to the workspace's contacts by address.
    public static func addMeeting(
        title: String, startsAt: Date, endsAt: Date, attendees: [String] = [], workspace: UUID, in db: PostgresConnectionHandle
    ) async throws -> UUID {
        guard endsAt >= startsAt else { throw CRMError(.invalidArgument, "a meeting cannot end before it starts") }
        let addresses = try attendees.map(address)
        let id = UUID()
        try await db.execute("""
            INSERT INTO meetings (id, workspace_id, title, starts_at, ends_at) VALUES (\(id), \(workspace), \(title), \(startsAt), \(endsAt))
            """)
        if !addresses.isEmpty {
            try await db.execute("""
                INSERT INTO meeting_attendees (workspace_id, meeting_id, email, contact_id)
                SELECT \(workspace), \(id), a.email, (SELECT c.id FROM contacts c WHERE c.workspace_id = \(workspace) AND c.email = a.email::citext)
                FROM unnest(\(PostgresTextArray(addresses))::text[]) AS a(email) ON CONFLICT DO NOTHING
                """)
        }
        return id
    }

    /// The kinds of record `list` and `show` read.
    public enum Kind: String, Sendable, CaseIterable {
        case accounts, contacts, leads, deals, lists, tickets, meetings

        var table: String { self == .lists ? "contact_lists" : rawValue }
        /// One line of text per record, for a list.
        var summary: String {
            switch self {
            case .accounts: "name || '  health ' || health_score || '  ' || payment_status"
            case .contacts, .leads: "email || '  ' || trim(first_name || ' ' || last_name)"
            case .deals: "name || '  ' || stage"
            case .lists: "name || '  ' || (SELECT count(*) FROM contact_list_members m WHERE m.list_id = t.id AND m.workspace_id = t.workspace_id) || ' members'"
            case .tickets: "subject || '  ' || status || '  ' || priority || CASE WHEN escalate THEN '  escalate' ELSE '' END"
            case .meetings: "title || '  ' || to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'"
            }
        }
    }

    /// The newest records of a kind: (id, one line of text).
    public static func list(_ kind: Kind, limit: Int = 50, workspace: UUID, in db: PostgresConnectionHandle) async throws -> [(id: UUID, summary: String)] {
        try await db.query("""
            SELECT id, \(unescaped: kind.summary) FROM \(unescaped: kind.table) t WHERE workspace_id = \(workspace) ORDER BY created_at DESC, id LIMIT \(limit)
            """).map { (try $0.decode(at: 0), try $0.decode(at: 1)) }
    }

    /// One record as JSON (its columns), or nil when the workspace has no such record.
    public static func show(_ kind: Kind, id: UUID, workspace: UUID, in db: PostgresConnectionHandle) async throws -> String? {
        try await db.query("""
            SELECT jsonb_pretty(to_jsonb(t)) FROM \(unescaped: kind.table) t WHERE id = \(id) AND workspace_id = \(workspace)
            """).first?.decode(String.self, at: 0)
    }

    private static func address(_ raw: String) throws -> String {
        guard let address = EmailAddresses.normalize(raw) else { throw CRMError(.invalidArgument, "\"\(raw)\" is not an email address") }
        return address
    }
}
