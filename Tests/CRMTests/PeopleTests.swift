import CRM
import Foundation
import Postgres
import TestSupport
import Testing

/// Contacts and leads found by address, in batches, within one workspace only.
@Suite(.hangGuard) struct PeopleTests {
    @Test func findsContactsAndLeadsOfManyAddressesInOneCallWithinTheWorkspace() async throws {
        let db = try await TestDatabase.migrated().client
        let (a, b) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db))
        let account = try await CRMFixtures.account(in: db, workspace: a)
        let ana = try await CRMFixtures.contact("Ana@Example.com", in: db, workspace: a, account: account)
        let anaLead = try await CRMFixtures.lead("ana@example.COM", in: db, workspace: a)
        let bob = try await CRMFixtures.lead("bob@example.org", in: db, workspace: a)
        _ = try await CRMFixtures.contact("carol@example.net", in: db, workspace: b)

        let found = try await db.withConnection { tx in
            try await People.find(emails: EmailAddresses.parse(#""Demo, Ana" <ANA@EXAMPLE.com>, Bob <bob@example.org>, carol@example.net"#)
                                  + ["not an address"], workspace: a, in: tx)
        }
        #expect(Set(found.keys) == ["ana@example.com", "bob@example.org"], "carol is workspace B's")
        #expect(found["ana@example.com"] == [Person(kind: .contact, id: ana, email: "ana@example.com", account: account),
                                             Person(kind: .lead, id: anaLead, email: "ana@example.com")])
        #expect(found["bob@example.org"]?.map(\.id) == [bob])
        #expect(try await db.withConnection { try await People.find(email: "CAROL@example.net", workspace: b, in: $0) }.count == 1)
        #expect(try await db.withConnection { try await People.find(email: "carol@example.net", workspace: a, in: $0) }.isEmpty)
    }

    @Test func matchesFiveThousandAddressesInOneCall() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await db.execute("""
            INSERT INTO contacts (id, workspace_id, email) SELECT gen_random_uuid(), \(workspace), 'person' || n || '@example.com'
            FROM generate_series(1, 6000) n
            """)
        let addresses = (1...5000).map { "Person\($0)@Example.com" } + (1...100).map { "nobody\($0)@example.com" }
        let found = try await db.withConnection { try await People.find(emails: addresses, workspace: workspace, in: $0) }
        #expect(found.count == 5000)
        #expect(found["person4321@example.com"]?.first?.kind == .contact)
        #expect(found["person5001@example.com"] == nil && found["nobody1@example.com"] == nil)
    }

    @Test func lastContactedMovesForwardOnly() async throws {
        let db = try await TestDatabase.migrated().client
        let (a, b) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db))
        let contact = try await CRMFixtures.contact("ana@example.com", in: db, workspace: a)
        let lead = try await CRMFixtures.lead("ana@example.com", in: db, workspace: a)
        let people = try await db.withConnection { try await People.find(email: "ana@example.com", workspace: a, in: $0) }
        let (monday, tuesday) = (Date(timeIntervalSince1970: 1_800_000_000), Date(timeIntervalSince1970: 1_800_086_400))

        #expect(try await db.withConnection { try await People.touch(people, at: tuesday, workspace: a, in: $0) } == 2)
        #expect(try await db.withConnection { try await People.touch(people, at: monday, workspace: a, in: $0) } == 0, "an older interaction seen late")
        #expect(try await db.withConnection { try await People.touch(people, at: tuesday.addingTimeInterval(60), workspace: b, in: $0) } == 0,
                "another workspace cannot touch them")
        for (table, id) in [("contacts", contact), ("leads", lead)] {
            let stored = try await db.query("SELECT last_contacted_at FROM \(unescaped: table) WHERE id = \(id)")[0].decode(Date.self, at: 0)
            #expect(stored == tuesday)
        }
    }
}

/// CRM records for the tests, written as the CRM's own tables hold them.
enum CRMFixtures {
    static func account(in db: PostgresClient, workspace: UUID, name: String = "Acme") async throws -> UUID {
        let id = UUID()
        try await db.execute("INSERT INTO accounts (id, workspace_id, name, normalized_name) VALUES (\(id), \(workspace), \(name), \(name.lowercased()))")
        return id
    }

    static func contact(_ email: String, in db: PostgresClient, workspace: UUID, account: UUID? = nil) async throws -> UUID {
        let id = UUID()
        try await db.execute("INSERT INTO contacts (id, workspace_id, email, account_id) VALUES (\(id), \(workspace), \(email), \(account))")
        return id
    }

    static func lead(_ email: String, in db: PostgresClient, workspace: UUID) async throws -> UUID {
        let id = UUID()
        try await db.execute("INSERT INTO leads (id, workspace_id, email) VALUES (\(id), \(workspace), \(email))")
        return id
    }
}
