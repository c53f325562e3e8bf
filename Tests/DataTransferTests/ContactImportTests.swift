import DataTransfer
import Foundation
import Postgres
import TestSupport
import Testing

@Suite(.hangGuard) struct ImportMappingTests {
    @Test func suggestsFieldsFromHeadersWithSynonymsAndKeepsTheRestAsCustom() throws {
        let mapping = try ImportMapping.suggest(headers: ["E-mail", "First Name", "SURNAME", "Company Name", "Job Title", "Mobile", "Tags", "Lead Source"])
        #expect(mapping.columns == [0: "email", 1: "first_name", 2: "last_name", 3: "account.name", 4: "title", 5: "phone", 6: "tags",
                                    7: "custom.lead_source"])
        #expect(try ImportMapping.suggest(headers: ["Email Address", "Organisation"]).columns == [0: "email", 1: "account.name"])
        #expect(throws: ImportMapping.Failure.duplicateHeader("email")) { try ImportMapping.suggest(headers: ["Email", "email"]) }
        #expect(throws: ImportMapping.Failure.noEmailColumn) { try ImportMapping.suggest(headers: ["Name", "Phone"]) }
        let explicit = try ImportMapping.explicit([("Mail", "email"), ("Org", "account.name")], headers: ["Org", "Mail", "Other"])
        #expect(explicit.columns == [1: "email", 0: "account.name"])
        #expect(throws: ImportMapping.Failure.unknownField("company")) { try ImportMapping.explicit([("Mail", "company")], headers: ["Mail"]) }
        #expect(ImportMapping.signature(of: ["Email", "Company Name"]) == ImportMapping.signature(of: ["companyname", "EMAIL"]))
    }

    @Test func checksEmailsAndNormalisesPhonesToE164() throws {
        let mapping = try ImportMapping.suggest(headers: ["email", "phone"])
        #expect(try ContactRow(row: 2, fields: ["Ana@Example.com", "+44 20 7946 0958"], mapping: mapping).phone == "+442079460958")
        #expect(try ContactRow(row: 2, fields: ["a@b.co", "(415) 555-2671"], mapping: mapping).phone == "+14155552671")
        #expect(try ContactRow(row: 2, fields: ["a@b.co", "0049 30 1234567"], mapping: mapping).phone == "+49301234567")
        #expect(try ContactRow(row: 2, fields: ["A@B.CO", ""], mapping: mapping).email == "a@b.co")
        #expect(throws: ContactRow.Problem(row: 3, field: "email", message: "is required")) { try ContactRow(row: 3, fields: ["", "1"], mapping: mapping) }
        #expect(throws: ContactRow.Problem(row: 4, field: "email", message: "\"ana@\" is not an email address")) {
            try ContactRow(row: 4, fields: ["ana@", ""], mapping: mapping)
        }
        #expect(throws: ContactRow.Problem(row: 5, field: "phone", message: "\"call me\" is not a phone number")) {
            try ContactRow(row: 5, fields: ["a@b.co", "call me"], mapping: mapping)
        }
        #expect(throws: ContactRow.Problem.self) { try ContactRow(row: 6, fields: ["a@b.co", "12345"], mapping: mapping) }
        // White space around a cell goes, ASCII or Unicode (a no-break space, an ideographic space); inside an email it is refused.
        #expect(try ContactRow(row: 7, fields: ["  a@b.co\t", " +1 415 555 2671 "], mapping: mapping).email == "a@b.co")
        #expect(try ContactRow(row: 7, fields: ["\u{00A0}a@b.co\u{3000}", ""], mapping: mapping).email == "a@b.co")
        for bad in ["a b@c.co", "a\u{00A0}b@c.co", "a@b@c.co", "a@-b.co", "a@b.c", "a,b@c.co", "@b.co"] {
            #expect(throws: ContactRow.Problem.self, "\(bad)") { try ContactRow(row: 8, fields: [bad, ""], mapping: mapping) }
        }
        #expect(try ContactRow(row: 9, fields: ["jöran@exämple.se", ""], mapping: mapping).email == "jöran@exämple.se")
    }
}

@Suite(.hangGuard) struct ContactImportTests {
    static func file(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString).csv")
        try Data(text.utf8).write(to: url)
        return url
    }

    static func count(_ db: PostgresClient, _ sql: PostgresQuery) async throws -> Int {
        try await db.query(sql)[0].decode(Int.self, at: 0)
    }

    @Test func tenThousandContactsWithCompaniesPhonesTitlesAndTagsSomeUpdatingExistingOnes() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        // 500 contacts already exist; the file updates them (empty cells keep what they have, tags merge).
        for i in 0..<500 {
            try await db.execute("""
                INSERT INTO contacts (id, workspace_id, email, first_name, title, tags) VALUES (\(UUID()), \(workspace), \("person\(i)@example.com"),
                  'Old', 'Keeps Title', '{existing}')
                """)
        }
        var csv = "Email,First Name,Last Name,Company,Phone,Title,Tags\r\n"
        for i in 0..<10_000 {
            let title = i < 500 ? "" : "Engineer \(i % 7)"
            csv += "Person\(i)@Example.com,First\(i),Last\(i),\"Company \(i % 250), Inc\",+1 415 555 \(String(format: "%04d", i % 10_000)),\(title),\"customer, tier-\(i % 3)\"\r\n"
        }
        csv += "person1@example.com,,,,,,vip\r\n"  // a row repeated inside the file
        let summary = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace)
        #expect(summary.total == 10_001 && summary.created == 9_500 && summary.updated == 500 && summary.merged == 1 && summary.skipped == 0)
        #expect(try await Self.count(db, "SELECT count(*) FROM contacts WHERE workspace_id = \(workspace)") == 10_000)
        #expect(try await Self.count(db, "SELECT count(*) FROM accounts WHERE workspace_id = \(workspace)") == 250)
        let updated = try await db.query("SELECT first_name, title, tags, phone FROM contacts WHERE email = 'person1@example.com'")[0]
        #expect(try updated.decode(String.self, at: 0) == "First1" && updated.decode(String.self, at: 1) == "Keeps Title")
        #expect(try updated.decode(PostgresTextArray.self, at: 2).values == ["customer", "existing", "tier-1", "vip"])
        #expect(try updated.decode(String.self, at: 3) == "+14155550001")
        let linked = try await Self.count(db, """
            SELECT count(*) FROM contacts c JOIN accounts a ON a.id = c.account_id WHERE c.workspace_id = \(workspace) AND a.name = 'Company 7, Inc'
            """)
        #expect(linked == 40)

        // The same file again creates nothing.
        let again = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace)
        #expect(again.created == 0 && again.updated == 10_000)
        #expect(try await Self.count(db, "SELECT count(*) FROM contacts WHERE workspace_id = \(workspace)") == 10_000)
    }

    @Test func failModeWritesNothingAndReportsEveryErrorSkipModeWritesTheValidRows() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let csv = "email,phone\nok1@x.test,\nnot-an-email,\nok2@x.test,call me\n,\nok3@x.test,+33 1 23 45 67 89\n"
        do {
            _ = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace)
            Issue.record("fail mode imported an invalid file")
        } catch RecordImporter.Failure.invalidRows(let problems, _) {
            #expect(problems.map(\.row) == [3, 4, 5] && problems.map(\.field) == ["email", "phone", "email"])
        }
        #expect(try await Self.count(db, "SELECT count(*) FROM contacts") == 0)
        let skipped = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace, mode: .skip)
        #expect(skipped.created == 2 && skipped.skipped == 3 && skipped.problems.count == 3)
        #expect(try await Self.count(db, "SELECT count(*) FROM contacts") == 2)
    }

    @Test func invalidRowsAreAllCountedAndTheFirstTenThousandKept() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let csv = "email\nok@x.test\n" + String(repeating: "not-an-email\n", count: 12_000)
        do {
            _ = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace)
            Issue.record("fail mode imported an invalid file")
        } catch let failure as RecordImporter.Failure {
            #expect("\(failure)".hasPrefix("12000 invalid row(s); nothing was imported. First: row 3"))
        }
        let skipped = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace, mode: .skip)
        #expect(skipped.created == 1 && skipped.skipped == 12_000 && skipped.invalid == 12_000)
        #expect(skipped.problems.count == RecordImporter.Summary.keptProblems && skipped.problems.last?.row == 10_002)
    }

    @Test func dryRunPlansEachRowAndWritesNothing() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await db.execute("INSERT INTO contacts (id, workspace_id, email) VALUES (\(UUID()), \(workspace), 'known@x.test')")
        let csv = "email\nnew@x.test\nKNOWN@x.test\nbad\nnew@x.test\n"
        let summary = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace, mode: .skip, dryRun: true)
        #expect(summary.plan.map(\.action) == ["create", "update", "skip: email \"bad\" is not an email address", "merge"])
        #expect(summary.plan.map(\.row) == [2, 3, 4, 5])
        #expect(try await Self.count(db, "SELECT count(*) FROM contacts") == 1)
    }

    @Test func malformedFilesAreClearErrorsNamingTheRow() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let cases: [(String, String)] = [
            ("email,name\na@x.test,\"open\nb@x.test,x\n", "row 2: a quoted field is never closed"),
            ("email,Email\na@x.test,b@x.test\n", "row 1: the header \"Email\" appears twice"),
            ("", "the file has no header row"),
        ]
        for (csv, message) in cases {
            do {
                _ = try await RecordImporter(db: db).run(file: try Self.file(csv), workspace: workspace)
                Issue.record("accepted: \(csv)")
            } catch let failure as RecordImporter.Failure {
                #expect("\(failure)".contains(message), "\(failure)")
            }
        }
        let invalidUTF8 = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).csv")
        try Data(Array("email\r\n".utf8) + [0x61, 0xC3, 0x28, 0x40, 0x78, 0x2E, 0x74, 0x65, 0x73, 0x74]).write(to: invalidUTF8)
        await #expect(throws: RecordImporter.Failure.self) { _ = try await RecordImporter(db: db).run(file: invalidUTF8, workspace: workspace) }
        // A semicolon file with a BOM is read all the same.
        let semicolons = try await RecordImporter(db: db).run(file: try Self.file("\u{FEFF}E-mail;Company Name\r\nx@y.test;\"Acme; Ltd\"\r\n"), workspace: workspace)
        #expect(semicolons.created == 1)
        #expect(try await db.query("SELECT name FROM accounts")[0].decode(String.self, at: 0) == "Acme; Ltd")
    }
}
