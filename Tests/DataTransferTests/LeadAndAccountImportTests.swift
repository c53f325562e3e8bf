import BlobStorage
import DataTransfer
import Foundation
import Postgres
import TestSupport
import Testing

/// Leads and accounts go through the same import as contacts: mapping, checks, dedupe, dry run,
/// jobs and undo.
@Suite(.hangGuard) struct LeadAndAccountImportTests {
    static func run(_ db: PostgresClient, _ csv: String, entity: ImportEntity, workspace: UUID, mode: RecordImporter.Mode = .fail,
                    dryRun: Bool = false) async throws -> RecordImporter.Summary {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nexa-\(UUID().uuidString).csv")
        try csv.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await RecordImporter(db: db).run(file: file, workspace: workspace, entity: entity, mode: mode, dryRun: dryRun)
    }

    @Test func mappingIsSuggestedPerEntity() throws {
        #expect(try ImportMapping.suggest(headers: ["Company Name", "Website", "Notes"], entity: .accounts).columns == [0: "name", 1: "domain"])
        #expect(try ImportMapping.suggest(headers: ["E-mail", "Company", "Lead Status"], entity: .leads).columns == [0: "email", 1: "company", 2: "status"])
        #expect(throws: ImportMapping.Failure.noKeyColumn("name")) { try ImportMapping.suggest(headers: ["Website"], entity: .accounts) }
        #expect(throws: ImportMapping.Failure.unknownField("phone")) {
            try ImportMapping.explicit([("Tel", "phone")], headers: ["Email", "Tel"], entity: .leads)
        }
    }

    @Test func accountsDedupeByNormalisedNameAndKeepTheirDomain() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await db.execute("INSERT INTO accounts (id, workspace_id, name, normalized_name, domain) VALUES (\(UUID()), \(workspace), 'Initech', 'initech', 'initech.example')")
        let csv = """
            Company,Website
            Acme Inc,https://www.Acme.com/about
            ACME   inc,
            Globex,globex.example
            Initech,initech.test
            Bad Co,not a domain

            """
        await #expect(throws: RecordImporter.Failure.self) { _ = try await Self.run(db, csv, entity: .accounts, workspace: workspace) }
        let plan = try await Self.run(db, csv, entity: .accounts, workspace: workspace, mode: .skip, dryRun: true)
        #expect(plan.plan.map(\.action) == ["create", "merge", "create", "update", "skip: domain \"not a domain\" is not a web domain"])
        let summary = try await Self.run(db, csv, entity: .accounts, workspace: workspace, mode: .skip)
        #expect(summary.created == 2 && summary.updated == 1 && summary.merged == 1 && summary.skipped == 1)
        let rows = try await db.query("SELECT name || '=' || coalesce(domain, '') FROM accounts WHERE workspace_id = \(workspace) ORDER BY 1")
            .map { try $0.decode(String.self, at: 0) }
        #expect(rows == ["Acme Inc=acme.com", "Globex=globex.example", "Initech=initech.test"])
        // A contact import finds the same accounts by their normalised names.
        let contacts = try await Self.run(db, "email,company\na@x.test,  acme INC\n", entity: .contacts, workspace: workspace)
        #expect(contacts.created == 1)
        #expect(try await db.query("SELECT count(*) FROM accounts WHERE workspace_id = \(workspace)")[0].decode(Int.self, at: 0) == 3)
    }

    @Test func leadsCheckTheirStatusAndKeepItWhenACellIsEmpty() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await db.execute("INSERT INTO leads (id, workspace_id, email, first_name, status) VALUES (\(UUID()), \(workspace), 'old@x.test', 'Olga', 'qualified')")
        do {
            _ = try await Self.run(db, "email,status\nnew@x.test,hot\n", entity: .leads, workspace: workspace)
            Issue.record("an unknown status fails the import")
        } catch RecordImporter.Failure.invalidRows(let problems, _) {
            #expect(problems == [ImportProblem(row: 2, field: "status", message: "\"hot\" is not a lead status (new, contacted, qualified, unqualified, converted)")])
        }
        let summary = try await Self.run(db, """
            Email,First Name,Company,Status
            new@x.test,Nia,Acme,Contacted
            OLD@x.test,,Globex,
            two@x.test,Tom,,
            new@x.test,,,qualified

            """, entity: .leads, workspace: workspace)
        #expect(summary.created == 2 && summary.updated == 1 && summary.merged == 1)
        let leads = try await db.query("""
            SELECT email::text || '|' || first_name || '|' || coalesce(company, '') || '|' || status FROM leads WHERE workspace_id = \(workspace) ORDER BY 1
            """).map { try $0.decode(String.self, at: 0) }
        #expect(leads == ["new@x.test|Nia|Acme|qualified", "old@x.test|Olga|Globex|qualified", "two@x.test|Tom||new"])
    }

    @Test func leadAndAccountImportsUndoLikeContactImports() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await db.execute("INSERT INTO leads (id, workspace_id, email, first_name, status) VALUES (\(UUID()), \(workspace), 'old@x.test', 'Olga', 'qualified')")
        let kept = UUID()
        try await db.execute("INSERT INTO accounts (id, workspace_id, name, normalized_name, domain) VALUES (\(kept), \(workspace), 'Initech', 'initech', 'initech.example')")
        let blobs = ImportJobTests.blobs()
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        func importing(_ csv: String, _ entity: ImportEntity) async throws -> UUID {
            let job = try await jobs.start(workspace: workspace, entity: entity, blobKey: try await ImportJobTests.upload(csv, to: blobs, for: workspace),
                                           fileName: "x.csv", mapping: nil, mode: .fail, dryRun: false)
            await jobs.processDue()
            let done = try await jobs.get(job.id, workspace: workspace)
            #expect(done.status == "completed" && done.entity == entity.rawValue, "\(done)")
            return job.id
        }
        let leadJob = try await importing("email,first name,status\nold@x.test,Changed,converted\nnew@x.test,Nia,\n", .leads)
        let accountJob = try await importing("name,domain\nInitech,initech.test\nHooli,hooli.test\nPiper,piper.test\n", .accounts)
        // Piper gets a contact: the account is in use and stays.
        let piper = try await db.query("SELECT id FROM accounts WHERE normalized_name = 'piper'")[0].decode(UUID.self, at: 0)
        try await db.execute("INSERT INTO contacts (id, workspace_id, email, account_id) VALUES (\(UUID()), \(workspace), 'p@x.test', \(piper))")

        let leadUndo = try await ImportUndo(db: db).undo(job: leadJob, workspace: workspace)
        #expect(leadUndo.deleted == 1 && leadUndo.restored == 1 && leadUndo.refused.isEmpty)
        #expect(try await db.query("SELECT first_name || '|' || status FROM leads WHERE workspace_id = \(workspace)").map { try $0.decode(String.self, at: 0) }
            == ["Olga|qualified"])
        let accountUndo = try await ImportUndo(db: db).undo(job: accountJob, workspace: workspace)
        #expect(accountUndo.deleted == 1 && accountUndo.restored == 1 && accountUndo.refused == ["Piper"])
        #expect(try await db.query("SELECT name || '=' || coalesce(domain, '') FROM accounts WHERE workspace_id = \(workspace) ORDER BY 1")
            .map { try $0.decode(String.self, at: 0) } == ["Initech=initech.example", "Piper=piper.test"])
    }
}
