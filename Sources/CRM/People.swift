public import Foundation
public import Postgres

/// A contact or a lead of a workspace, as found by email address.
public struct Person: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case contact
        case lead
    }

    public var kind: Kind
    public var id: UUID
    /// The stored address, lower-cased.
    public var email: String
    /// The contact's account (leads have none).
    public var account: UUID?

    public init(kind: Kind, id: UUID, email: String, account: UUID? = nil) {
        self.kind = kind
        self.id = id
        self.email = email
        self.account = account
    }
}

/// Finding the people an interaction involves, and recording that it happened.
public enum People {
    /// The contacts and leads of `workspace` with any of `addresses`, case-insensitively, in one
    /// query (a sync matches thousands at once). An address held by both a contact and a lead
    /// returns both. Addresses are normalised first (`EmailAddresses.normalize`); what is not an
    /// address matches nothing. Contacts are probed through their index with `= ANY`; leads, usually
    /// far fewer, by a join the planner may hash (10,000 probes of a 10,000-lead workspace cost
    /// five times a hash of it: `nexa-bench crm-match`).
    /// - Returns: each matched address (normalised) with its people, contacts before leads.
    public static func find(
        emails addresses: some Sequence<String>, workspace: UUID, in db: PostgresConnectionHandle
    ) async throws -> [String: [Person]] {
        let wanted = Array(Set(addresses.compactMap { EmailAddresses.normalize($0) }))
        guard !wanted.isEmpty else { return [:] }
        // The list is bound once and used twice (`$2`): PostgreSQL parses 10,000 addresses once.
        var found: [String: [Person]] = [:]
        for row in try await db.query(PostgresQuery(unsafeSQL: """
            SELECT true, id, lower(email::text), account_id FROM contacts WHERE workspace_id = $1 AND email = ANY($2::citext[])
            UNION ALL
            SELECT false, l.id, lower(l.email::text), NULL FROM unnest($2::citext[]) AS a(email) JOIN leads l ON l.workspace_id = $1 AND l.email = a.email
            """, binds: [workspace.postgresText, PostgresTextArray(wanted).postgresText])) {
            let person = Person(kind: try row.decode(Bool.self, at: 0) ? .contact : .lead, id: try row.decode(at: 1),
                                email: try row.decode(at: 2), account: try row.decodeIfPresent(at: 3))
            found[person.email, default: []].append(person)
        }
        for key in found.keys { found[key]!.sort { ($0.kind == .contact ? 0 : 1, $0.id.uuidString) < ($1.kind == .contact ? 0 : 1, $1.id.uuidString) } }
        return found
    }

    /// The contacts and leads with one address (a header value's first address is not assumed:
    /// pass one address).
    public static func find(email: String, workspace: UUID, in db: PostgresConnectionHandle) async throws -> [Person] {
        guard let address = EmailAddresses.normalize(email) else { return [] }
        return try await find(emails: [address], workspace: workspace, in: db)[address] ?? []
    }

    /// Moves `last_contacted_at` of these people forward to `time`, never back: an older
    /// interaction seen late leaves a newer one standing.
    /// - Returns: how many records moved.
    @discardableResult
    public static func touch(_ people: some Sequence<Person>, at time: Date, workspace: UUID, in db: PostgresConnectionHandle) async throws -> Int {
        let contacts = PostgresTextArray(people.filter { $0.kind == .contact }.map { $0.id.postgresText! })
        let leads = PostgresTextArray(people.filter { $0.kind == .lead }.map { $0.id.postgresText! })
        var moved = 0
        for (table, ids) in [("contacts", contacts), ("leads", leads)] where !ids.values.isEmpty {
            moved += try await db.execute("""
                UPDATE \(unescaped: table) SET last_contacted_at = \(time), updated_at = now()
                WHERE workspace_id = \(workspace) AND id = ANY(\(ids)::uuid[])
                  AND (last_contacted_at IS NULL OR last_contacted_at < \(time))
                """)
        }
        return moved
    }

    /// `touch` for many interactions at once: each person's `last_contacted_at` moves forward to
    /// the latest of their times, with one statement per table.
    @discardableResult
    public static func touch(_ interactions: [(person: Person, at: Date)], workspace: UUID, in db: PostgresConnectionHandle) async throws -> Int {
        var latest: [Person: Date] = [:]
        for (person, time) in interactions { latest[person] = max(latest[person] ?? time, time) }
        var moved = 0
        for (kind, table) in [(Person.Kind.contact, "contacts"), (.lead, "leads")] {
            let rows = latest.filter { $0.key.kind == kind }.map { Touch(id: $0.key.id, at: $0.value) }
            guard !rows.isEmpty else { continue }
            moved += try await db.execute("""
                UPDATE \(unescaped: table) t SET last_contacted_at = r.at, updated_at = now()
                FROM jsonb_to_recordset(\(try JSON.encode(rows))::jsonb) AS r(id uuid, at timestamptz)
                WHERE t.workspace_id = \(workspace) AND t.id = r.id AND (t.last_contacted_at IS NULL OR t.last_contacted_at < r.at)
                """)
        }
        return moved
    }

    private struct Touch: Encodable {
        let id: UUID
        let at: String

        init(id: UUID, at: Date) {
            self.id = id
            self.at = JSON.timestamp(at)
        }
    }
}
