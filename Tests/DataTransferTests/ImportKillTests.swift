import BlobStorage
import DataTransfer
import Foundation
import Postgres
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real `nexa-data-transfer` process, killed with SIGKILL in the middle of an import: a new
/// process resumes the job from its last committed batch, and the counts come out exact.
@Suite(.hangGuard) struct ImportKillTests {
    @Test func killedMidImportTheJobResumesWithExactCounts() async throws {
        let executable = try Processes.binary("nexa-data-transfer")
        let (url, db) = try await TestDatabase.migrated()
        let workspace = try await TestDatabase.workspace(in: db)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nexa-kill-\(UUID().uuidString)")
        let blobs = LocalBlobStore(root: root)
        defer { try? FileManager.default.removeItem(at: root) }
        let rows = 30_000
        var csv = "email,first name,company\n"
        for i in 0..<rows { csv += "k\(i)@x.test,K\(i),Company \(i % 300)\n" }
        let key = try await ImportJobTests.upload(csv, to: blobs, for: workspace)

        var environment = ProcessInfo.processInfo.environment
        environment["NEXA_DATABASE_URL"] = url
        environment["NEXA_BLOB_DIR"] = root.path
        environment["NEXA_BLOB_S3_BUCKET"] = nil
        environment["NEXA_IMPORT_LEASE_SECONDS"] = "2"
        environment["NEXA_LOG_LEVEL"] = "error"
        func start() throws -> Process {
            environment["NEXA_DATA_TRANSFER_RPC_PORT"] = "\(Processes.freePort())"
            environment["NEXA_DATA_TRANSFER_ADMIN_PORT"] = "\(Processes.freePort())"
            return try Processes.start(executable, environment: environment)
        }
        func progress(_ id: UUID) async throws -> (status: String, written: Int, created: Int) {
            let row = try await db.query("SELECT status, rows_written, created FROM import_jobs WHERE id = \(id)")[0]
            return (try row.decode(String.self, at: 0), try row.decode(Int.self, at: 1), try row.decode(Int.self, at: 2))
        }
        func contacts() async throws -> Int {
            try await db.query("SELECT count(*) FROM contacts WHERE workspace_id = \(workspace)")[0].decode(Int.self, at: 0)
        }

        // The kill must land mid-import, whatever the machine's speed: the batch whose progress
        // write reaches 2,000 rows waits on an advisory lock this test holds, and the process is
        // killed while it waits (its uncommitted batch dies with it).
        let holder = PostgresClient(conninfo: url, maximumConnections: 1, logger: TestDatabase.logger)
        try await holder.query("SELECT pg_advisory_lock(4242)")
        try await db.execute(PostgresQuery(unsafeSQL: """
            CREATE FUNCTION test_pause_import() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$
            """))
        try await db.execute(PostgresQuery(unsafeSQL: """
            CREATE TRIGGER test_pause_import BEFORE UPDATE ON import_jobs FOR EACH ROW
              WHEN (NEW.rows_written >= 2000 AND OLD.rows_written < 2000) EXECUTE FUNCTION test_pause_import();
            """))

        // The worker waiting on that lock, and no one else: pg_locks is the whole cluster's, and
        // a migrator of a test running beside this one waits on its own advisory lock.
        let pausedWorker = """
            SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = 4242 AND objsubid = 1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """

        let first = try start()
        let job = try await ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger)
            .start(workspace: workspace, blobKey: key, fileName: "big.csv", mapping: nil, mode: .fail, dryRun: false)
        try await Wait.until("the import waits on the test's lock", within: .seconds(180)) {
            try await db.query(PostgresQuery(unsafeSQL: pausedWorker)).count == 1
        }
        kill(first.processIdentifier, SIGKILL)
        _ = await first.exit()
        // A backend waiting on a lock does not read its socket, so it would not notice its client
        // died until the lock came free; end it as the server ends a dead client's session (its
        // open batch rolls back), then lift the pause.
        try await db.query(PostgresQuery(unsafeSQL: "SELECT pg_terminate_backend(pid) FROM (\(pausedWorker)) w"))
        try await Wait.until("the killed worker's session has ended") {
            try await db.query(PostgresQuery(unsafeSQL: pausedWorker)).isEmpty
        }
        try await db.execute("DROP TRIGGER test_pause_import ON import_jobs")
        try await holder.query("SELECT pg_advisory_unlock(4242)")
        let killed = try await progress(job.id)
        #expect(killed.status == "running" && killed.written > 0 && killed.written < 2_000, "the kill landed mid-import: \(killed)")
        // What is committed is what the job counted: batch and progress commit together.
        #expect(try await contacts() == killed.written && killed.created == killed.written)

        let second = try start()
        defer { if second.isRunning { second.terminate() } }
        try await Wait.until("the resumed import completes", within: .seconds(180)) { try await progress(job.id).status == "completed" }
        let done = try await progress(job.id)
        #expect(done.status == "completed" && done.written == rows && done.created == rows, "\(done)")
        #expect(try await contacts() == rows)
        #expect(try await db.query("SELECT count(*) FROM accounts WHERE workspace_id = \(workspace)")[0].decode(Int.self, at: 0) == 300)
        second.terminate()
        _ = await second.exit()
    }
}
