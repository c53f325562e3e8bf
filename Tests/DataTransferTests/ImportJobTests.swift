import BlobStorage
import DataTransfer
import Foundation
import Platform
import Logging
import Postgres
import RPC
import TestSupport
import Testing

/// Import jobs: progress committed with each batch, resume after a crash with exact counts, cancel.
@Suite(.hangGuard) struct ImportJobTests {
    static func blobs() -> LocalBlobStore {
        LocalBlobStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("nexa-blobs-\(UUID().uuidString)"))
    }

    /// `text` as an upload of `workspace` (its key names the workspace, as the gateway's do).
    static func upload(_ text: String, to blobs: any BlobStore, for workspace: UUID) async throws -> String {
        let bytes = Array(text.utf8)
        let chunks = AsyncThrowingStream<[UInt8], any Error> { continuation in
            var i = 0
            while i < bytes.count {
                continuation.yield(Array(bytes[i..<min(bytes.count, i + 65_536)]))
                i += 65_536
            }
            continuation.finish()
        }
        return try await blobs.write(prefix: BlobKeys.prefix("imports", workspace: workspace), fileExtension: "csv", limit: 1 << 30, chunks: chunks).key
    }

    static func sample(_ rows: Int) -> String {
        var csv = "Email,Name,Company Name,Tags\n"
        for i in 0..<rows { csv += "p\(i)@example.com,P \(i),Org \(i % 50),\"a, b\"\n" }
        return csv
    }

    @Test func aJobKilledMidImportResumesFromItsLastCommittedBatchWithExactCounts() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let blobs = Self.blobs()
        let key = try await Self.upload(Self.sample(5_500), to: blobs, for: workspace)
        // The first worker "dies" inside its fourth batch: that batch's transaction never commits.
        let crashing = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger, lease: .seconds(30)) { batch in
            if batch == 4 { throw SimulatedCrash() }
        }
        let job = try await crashing.start(workspace: workspace, blobKey: key, fileName: "sample.csv", mapping: nil, mode: .fail, dryRun: false)
        #expect(job.status == "queued")
        #expect(await crashing.processDue() == 1)
        var state = try await crashing.get(job.id, workspace: workspace)
        #expect(state.status == "running" && state.rowsWritten == 3_000 && state.created == 3_000 && state.percent == 54)
        #expect(try await db.query("SELECT count(*) FROM contacts")[0].decode(Int.self, at: 0) == 3_000)

        // Another worker takes it over once the lease has run out, and finishes it.
        let healthy = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        #expect(await healthy.processDue() == 0, "the lease still holds")
        try await db.execute("UPDATE import_jobs SET lease_until = now() - interval '1 second'")
        #expect(await healthy.processDue() == 1)
        state = try await healthy.get(job.id, workspace: workspace)
        #expect(state.status == "completed" && state.total == 5_500 && state.created == 5_500 && state.updated == 0 && state.percent == 100)
        #expect(state.finishedAt != nil)
        #expect(try await db.query("SELECT count(*) FROM contacts")[0].decode(Int.self, at: 0) == 5_500)
        #expect(try await db.query("SELECT count(*) FROM accounts")[0].decode(Int.self, at: 0) == 50)
        // Another workspace cannot see it.
        await #expect(throws: (any Error).self) { _ = try await healthy.get(job.id, workspace: UUID()) }
    }

    @Test func spreadsheetQuotesAreImportedAndReportedAsWarnings() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let blobs = Self.blobs()
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        // As Excel writes a cell it did not need to quote: the inch marks stay literal.
        let csv = "Email,Title,Company Name\nana@x.test,Buyer of 5\" screens,Acme\nbo@x.test,Clerk,\"Quoted \"\"Inc\"\"\"\ncy@x.test,3\"x4\" frames,O\"Hara\n"
        let job = try await jobs.start(workspace: workspace, blobKey: try await Self.upload(csv, to: blobs, for: workspace),
                                       fileName: "excel.csv", mapping: nil, mode: .fail, dryRun: false)
        await jobs.processDue()
        let done = try await jobs.get(job.id, workspace: workspace)
        #expect(done.status == "completed" && done.created == 3 && done.problems.isEmpty)
        #expect(done.rowsWithWarnings == 2)
        #expect(done.warnings.map(\.row) == [2, 4, 4] && done.warnings.map(\.field) == ["Title", "Title", "Company Name"])
        #expect(done.warnings.first?.message.contains("literal quote") == true)
        let title = try await db.query("SELECT title FROM contacts WHERE email = 'ana@x.test'")[0].decode(String.self, at: 0)
        #expect(title == "Buyer of 5\" screens")
        #expect(try await db.query("SELECT name FROM accounts ORDER BY name").map { try $0.decode(String.self, at: 0) }
                == ["Acme", "O\"Hara", "Quoted \"Inc\""])
    }

    @Test func invalidFilesFailTheJobWithTheirProblemsAndCancelStopsAfterTheBatch() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let blobs = Self.blobs()
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        let bad = try await jobs.start(workspace: workspace, blobKey: try await Self.upload("email\nok@x.test\nnope\n", to: blobs, for: workspace),
                                       fileName: "bad.csv", mapping: nil, mode: .fail, dryRun: false)
        await jobs.processDue()
        let failed = try await jobs.get(bad.id, workspace: workspace)
        #expect(failed.status == "failed" && failed.problems.map(\.row) == [3] && failed.error?.contains("nothing was imported") == true)

        // Cancelled while running: it stops after the batch in progress (here, the first).
        let big = try await jobs.start(workspace: workspace, blobKey: try await Self.upload(Self.sample(4_000), to: blobs, for: workspace),
                                           fileName: "big.csv", mapping: nil, mode: .fail, dryRun: false)
        try await db.execute("UPDATE import_jobs SET cancel_requested = true WHERE id = \(big.id)")
        await jobs.processDue()
        let cancelled = try await jobs.get(big.id, workspace: workspace)
        #expect(cancelled.status == "cancelled" && cancelled.rowsWritten == 1_000)
        #expect(try await db.query("SELECT count(*) FROM contacts")[0].decode(Int.self, at: 0) == 1_000)
        // A queued job cancels at once.
        let queued = try await jobs.start(workspace: workspace, blobKey: try await Self.upload(Self.sample(10), to: blobs, for: workspace),
                                          fileName: "q.csv", mapping: nil, mode: .fail, dryRun: false)
        #expect(try await jobs.cancel(queued.id, workspace: workspace).status == "cancelled")
        #expect(await jobs.processDue() == 0)
    }
}

@Suite(.hangGuard) struct MappingTemplateTests {
    @Test func aSavedMappingIsReappliedToFilesWithTheSameHeaders() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let blobs = ImportJobTests.blobs()
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        // Headers no suggestion understands: the first import maps them by hand and saves the mapping.
        let first = try await jobs.start(workspace: workspace, blobKey: try await ImportJobTests.upload("Contact,Firm\na@x.test,Acme\n", to: blobs, for: workspace),
                                         fileName: "a.csv", mapping: [("Contact", "email"), ("Firm", "account.name")], mode: .fail, dryRun: false,
                                         saveTemplate: "legacy-crm")
        await jobs.processDue()
        #expect(try await jobs.get(first.id, workspace: workspace).mappingSource == "explicit")
        // A later file with the same headers (any order, any case) gets it by itself.
        let second = try await jobs.start(workspace: workspace, blobKey: try await ImportJobTests.upload("firm,CONTACT\nBeta,b@x.test\n", to: blobs, for: workspace),
                                          fileName: "b.csv", mapping: nil, mode: .fail, dryRun: false)
        await jobs.processDue()
        let applied = try await jobs.get(second.id, workspace: workspace)
        #expect(applied.status == "completed" && applied.created == 1 && applied.mappingSource == "template:legacy-crm")
        #expect(try await db.query("SELECT a.name FROM contacts c JOIN accounts a ON a.id = c.account_id WHERE c.email = 'b@x.test'")[0]
            .decode(String.self, at: 0) == "Beta")
        // Without a template the same headers cannot be mapped, and a missing template is a clear failure.
        let named = try await jobs.start(workspace: workspace, blobKey: try await ImportJobTests.upload("Contact,Firm\nc@x.test,C\n", to: blobs, for: workspace),
                                         fileName: "c.csv", mapping: nil, mode: .fail, dryRun: false, template: "nope")
        await jobs.processDue()
        let missing = try await jobs.get(named.id, workspace: workspace)
        #expect(missing.status == "failed" && missing.error?.contains("no saved mapping named \"nope\"") == true)
        let other = try await TestDatabase.workspace(in: db, name: "Other")
        let elsewhere = try await jobs.start(workspace: other, blobKey: try await ImportJobTests.upload("Contact,Firm\nd@x.test,D\n", to: blobs, for: other),
                                             fileName: "d.csv", mapping: nil, mode: .fail, dryRun: false)
        await jobs.processDue()
        let unmapped = try await jobs.get(elsewhere.id, workspace: other)
        #expect(unmapped.status == "failed" && unmapped.error?.contains("no column maps to email") == true, "templates belong to their workspace")
    }

    @Test func anotherWorkspacesFileCannotBeImported() async throws {
        let db = try await TestDatabase.migrated().client
        let (workspace, other) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db, name: "Other"))
        let blobs = ImportJobTests.blobs()
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        let theirs = try await ImportJobTests.upload("email\nsecret@other.test\n", to: blobs, for: other)
        let legacy = try await blobs.write(prefix: "imports", fileExtension: "csv", limit: 1 << 20,
                                           chunks: AsyncThrowingStream { $0.yield(Array("email\nx@y.test\n".utf8)); $0.finish() }).key
        for key in [theirs, legacy, "imports/\(workspace.uuidString.lowercased())/../\(theirs)"] {
            await #expect(throws: PlatformError(.notFound, "no uploaded file \(key) in this workspace")) {
                _ = try await jobs.start(workspace: workspace, blobKey: key, fileName: "x.csv", mapping: nil, mode: .fail, dryRun: false)
            }
        }
        #expect(try await db.query("SELECT 1 FROM import_jobs").isEmpty)
        let mine = try await jobs.start(workspace: other, blobKey: theirs, fileName: "x.csv", mapping: nil, mode: .fail, dryRun: false)
        #expect(mine.status == "queued")
    }
}

@Suite(.hangGuard) struct ImportUndoTests {
    @Test func undoDeletesWhatWasCreatedRestoresWhatWasUpdatedAndLeavesLaterChangesAlone() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        for (email, name) in [("old1@x.test", "Olga"), ("old2@x.test", "Omar")] {
            try await db.execute("""
                INSERT INTO contacts (id, workspace_id, email, first_name, title, tags) VALUES (\(UUID()), \(workspace), \(email), \(name), 'Before', '{kept}')
                """)
        }
        let blobs = ImportJobTests.blobs()
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        let csv = "email,first name,title,tags\nnew1@x.test,N1,T,a\nnew2@x.test,N2,T,a\nnew3@x.test,N3,T,a\nold1@x.test,Changed,After,b\nold2@x.test,Changed,After,b\n"
        let job = try await jobs.start(workspace: workspace, blobKey: try await ImportJobTests.upload(csv, to: blobs, for: workspace), fileName: "u.csv",
                                       mapping: nil, mode: .fail, dryRun: false)
        await jobs.processDue()
        #expect(try await jobs.get(job.id, workspace: workspace).created == 3)
        // Someone edits one created and one updated contact after the import.
        try await db.execute("UPDATE contacts SET title = 'Edited by hand', updated_at = now() + interval '1 second' WHERE email IN ('new3@x.test', 'old2@x.test')")

        let report = try await ImportUndo(db: db).undo(job: job.id, workspace: workspace)
        #expect(report.deleted == 2 && report.restored == 1 && report.refused == ["new3@x.test", "old2@x.test"])
        let emails = try await db.query("SELECT email::text FROM contacts ORDER BY 1").map { try $0.decode(String.self, at: 0) }
        #expect(emails == ["new3@x.test", "old1@x.test", "old2@x.test"])
        let restored = try await db.query("SELECT first_name, title, tags FROM contacts WHERE email = 'old1@x.test'")[0]
        #expect(try restored.decode(String.self, at: 0) == "Olga" && restored.decode(String.self, at: 1) == "Before")
        #expect(try restored.decode(PostgresTextArray.self, at: 2).values == ["kept"])
        #expect(try await jobs.get(job.id, workspace: workspace).status == "undone")
        await #expect(throws: (any Error).self) { _ = try await ImportUndo(db: db).undo(job: job.id, workspace: workspace) }
        await #expect(throws: (any Error).self) { _ = try await ImportUndo(db: db).undo(job: job.id, workspace: UUID()) }
    }

    @Test func aLaterImportOwnsWhatItWroteAndAnEarlierUndoLeavesItAlone() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let blobs = ImportJobTests.blobs()
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
        func importing(_ csv: String) async throws -> UUID {
            let job = try await jobs.start(workspace: workspace, blobKey: try await ImportJobTests.upload(csv, to: blobs, for: workspace), fileName: "x.csv",
                                           mapping: nil, mode: .fail, dryRun: false)
            await jobs.processDue()
            #expect(try await jobs.get(job.id, workspace: workspace).status == "completed")
            return job.id
        }
        let first = try await importing("email,title\na@x.test,First\nb@x.test,First\n")
        let second = try await importing("email,title\na@x.test,Second\nc@x.test,Second\n")
        func titles() async throws -> [String] {
            try await db.query("SELECT email::text || '=' || coalesce(title, '') FROM contacts WHERE workspace_id = \(workspace) ORDER BY 1")
                .map { try $0.decode(String.self, at: 0) }
        }

        // The first job created a@x, but the second wrote it last: undoing the first leaves it.
        let early = try await ImportUndo(db: db).undo(job: first, workspace: workspace)
        #expect(early.deleted == 1 && early.restored == 0 && early.refused == ["a@x.test"])
        #expect(try await titles() == ["a@x.test=Second", "c@x.test=Second"])
        // Undoing the second deletes what it created and puts back what a@x held before it.
        let late = try await ImportUndo(db: db).undo(job: second, workspace: workspace)
        #expect(late.deleted == 1 && late.restored == 1 && late.refused.isEmpty)
        #expect(try await titles() == ["a@x.test=First"])
    }
}
