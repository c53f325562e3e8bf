import BlobStorage
import CSV
import CurlHTTP
import DataTransfer
import Foundation
import Gateway
import Platform
import Postgres
import TestSupport
import Testing

@Suite(.hangGuard) struct ExportTests {
    static func seed(_ db: PostgresClient, _ workspace: UUID) async throws -> UUID {
        let account = UUID()
        try await db.execute("INSERT INTO accounts (id, workspace_id, name, normalized_name) VALUES (\(account), \(workspace), 'Acme', 'acme')")
        let rows: [(String, String, [String], String, UUID?)] = [
            ("ann@x.test", "Ann", ["customer", "vip"], "2025-03-01", account),
            ("bob@x.test", "=HYPERLINK(\"http://evil\")", ["customer"], "2025-06-01", nil),
            ("cy@x.test", "Cy, Jr.", ["prospect"], "2024-12-01", account),
            ("dee@x.test", "Dee", ["customer", "vip"], "2024-01-01", nil),
        ]
        for (email, first, tags, created, accountID) in rows {
            let phone = email.hasPrefix("a") ? "+14155550100" : nil
            try await db.execute("""
                INSERT INTO contacts (id, workspace_id, email, first_name, phone, tags, account_id, created_at, custom)
                VALUES (\(UUID()), \(workspace), \(email), \(first), \(phone), \(PostgresTextArray(tags)), \(accountID), \(created + "T00:00:00Z")::timestamptz,
                        '{"plan": "pro"}')
                """)
        }
        return account
    }

    static func read(_ url: URL) throws -> [[String]] {
        var reader = CSVReader()
        var records = try reader.feed(Array(try Data(contentsOf: url))).map(\.fields)
        if let last = try reader.finish() { records.append(last.fields) }
        return records
    }

    @Test func filtersFieldsInjectionCapAndARoundTripThroughImport() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let account = try await Self.seed(db, workspace)
        let blobs = ImportJobTests.blobs()
        let exporter = ContactExporter(db: db, blobs: blobs)

        var filters = ContactExporter.Filters()
        filters.tagsAny = ["customer"]
        filters.createdAfter = ISO8601DateFormatter().date(from: "2025-01-01T00:00:00Z")
        let recent = try await exporter.export(workspace: workspace, fields: ["email", "first_name", "custom.plan"], filters: filters)
        #expect(recent.rows == 2)
        let rows = try Self.read(try blobs.url(recent.key))
        #expect(rows == [["email", "first_name", "custom.plan"], ["ann@x.test", "Ann", "pro"], ["bob@x.test", "'=HYPERLINK(\"http://evil\")", "pro"]])
        // One line ending throughout: the header (ours) and the rows (PostgreSQL's) all end in CRLF.
        let bytes = Array(try Data(contentsOf: try blobs.url(recent.key)))
        let lineFeeds = bytes.indices.filter { bytes[$0] == 0x0A }
        #expect(lineFeeds.count == 3 && lineFeeds.allSatisfy { $0 > 0 && bytes[$0 - 1] == 0x0D } && bytes.last == 0x0A)

        filters = ContactExporter.Filters()
        filters.tagsAll = ["customer", "vip"]
        #expect(try await exporter.export(workspace: workspace, fields: ["email"], filters: filters).rows == 2)
        filters = ContactExporter.Filters()
        filters.accountID = account
        let byAccount = try await exporter.export(workspace: workspace, fields: ["email", "account.name"], filters: filters)
        #expect(try Self.read(try blobs.url(byAccount.key)).dropFirst().map { $0[1] } == ["Acme", "Acme"])
        // Other workspaces' contacts are never exported.
        #expect(try await exporter.export(workspace: UUID(), fields: [], filters: .init()).rows == 0)

        await #expect(throws: PlatformError.self) { _ = try await exporter.export(workspace: workspace, fields: ["password"], filters: .init()) }
        await #expect(throws: PlatformError.self) {
            _ = try await ContactExporter(db: db, blobs: blobs, maximumRows: 3).export(workspace: workspace, fields: [], filters: .init())
        }

        // Everything out, then into a new workspace: the same contacts come back.
        let all = try await exporter.export(workspace: workspace, fields: ["email", "first_name", "phone", "account.name", "tags"], filters: .init())
        let copy = try await TestDatabase.workspace(in: db, name: "Copy")
        let summary = try await RecordImporter(db: db).run(file: try blobs.url(all.key), workspace: copy)
        #expect(summary.created == 4)
        func snapshot(_ ws: UUID) async throws -> [String] {
            try await db.query("""
                SELECT c.email::text || '|' || c.first_name || '|' || coalesce(c.phone, '') || '|' || coalesce(a.name, '') || '|' || array_to_string(c.tags, ',')
                FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id WHERE c.workspace_id = \(ws) ORDER BY 1
                """).map { try $0.decode(String.self, at: 0) }
        }
        let original = try await snapshot(workspace)
        let reimported = try await snapshot(copy)
        // Identical, the neutralised formula and the phone numbers (which start with `+`) included.
        #expect(reimported == original)
    }

    @Test func downloadLinksExpireAfterSevenDaysAndRefuseTampering() throws {
        let links = DownloadLinks(vault: try TokenVault(specification: TokenVault.generatedSpecification()), publicURL: "https://gw.test")
        let workspace = UUID()
        let now = Date()
        let (url, expires) = links.make(blobKey: "exports/a.csv", workspace: workspace, now: now)
        #expect(abs(expires.timeIntervalSince(now) - 7 * 24 * 3600) < 2)
        let token = String(url.dropFirst("https://gw.test/v1/downloads/".count))
        #expect(links.verify(token, now: now) == .valid(blobKey: "exports/a.csv", workspace: workspace))
        #expect(links.verify(token, now: now.addingTimeInterval(7 * 24 * 3600 + 1)) == .expired)
        var bytes = Array(token.utf8)
        bytes[3] = bytes[3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(links.verify(String(decoding: bytes, as: UTF8.self), now: now) == .tampered)
        #expect(links.verify("nonsense", now: now) == .tampered)
        let other = DownloadLinks(vault: try TokenVault(specification: TokenVault.generatedSpecification()), publicURL: "https://gw.test")
        #expect(other.verify(token, now: now) == .tampered, "another deployment's key")
    }
}
