import Foundation
import Messages
import Postgres
import RPC
import RPCNIO
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real `nexa-email-calendar` process, killed with SIGKILL in the middle of a mailbox's
/// initial sync: what it committed stays, the next process (the gateway redelivers the event)
/// finishes the sync, and no message becomes two activities.
@Suite(.hangGuard) struct MailboxKillTests {
    @Test func killedDuringTheInitialSyncTheNextProcessFinishesItWithNothingTwice() async throws {
        let executable = try Processes.binary("nexa-email-calendar")
        try await EmailServiceHarness.run { s in
            let messages = 250
            for i in 0..<messages { try await s.google.deliver(from: "buyer@example.com", subject: "message \(i)") }
            let url = s.databaseURL

            // The kill must land mid-sync, whatever the machine's speed: the batch that brings the
            // mailbox's stored count to 200 waits on an advisory lock this test holds (the first
            // batch of 100 has committed), and the process is killed while it waits.
            let holder = PostgresClient(conninfo: url, maximumConnections: 1, logger: TestDatabase.logger)
            try await holder.query("SELECT pg_advisory_lock(4343)")
            try await s.db.execute(PostgresQuery(unsafeSQL: """
                CREATE FUNCTION test_pause_mail_sync() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_advisory_xact_lock_shared(4343); RETURN NEW; END $$
                """))
            try await s.db.execute(PostgresQuery(unsafeSQL: """
                CREATE TRIGGER test_pause_mail_sync BEFORE UPDATE ON mailboxes FOR EACH ROW
                  WHEN (NEW.messages_stored >= 200 AND OLD.messages_stored < 200) EXECUTE FUNCTION test_pause_mail_sync();
                """))
            let pausedWorker = """
                SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = 4343 AND objsubid = 1
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """

            var environment = ProcessInfo.processInfo.environment
            environment["NEXA_DATABASE_URL"] = url
            environment["NEXA_GATEWAY_TARGET"] = s.gatewayTarget
            environment["NEXA_GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:9"
            environment["NEXA_GMAIL_API_URL"] = s.google.base + "/google/gmail"
            environment["NEXA_GOOGLE_APIS_URL"] = s.google.base + "/google/www"
            environment["NEXA_LOG_LEVEL"] = "error"
            func start() throws -> (Process, EmailCalendarV1.EmailCalendarService.Client<RPCClient>) {
                let port = Processes.freePort()
                environment["NEXA_EMAIL_CALENDAR_RPC_PORT"] = "\(port)"
                environment["NEXA_EMAIL_CALENDAR_ADMIN_PORT"] = "\(Processes.freePort())"
                let process = try Processes.start(executable, environment: environment)
                var configuration = ClientConfiguration(targets: [("127.0.0.1", port)])
                configuration.maximumAttempts = 1
                return (process, EmailCalendarV1.EmailCalendarService.Client(transport: RPCClient(configuration: configuration)))
            }
            let created = try #require(try await s.db.query("""
                SELECT body FROM webhook_inbox WHERE workspace_id = \(s.workspace) AND event_type = 'connection.created'
                """).first).decode([UInt8].self, at: 0)
            let event = {
                var event = GatewayV1.WebhookEvent()
                event.provider = "google"
                event.eventType = "connection.created"
                event.body = created
                return event
            }()
            let identity = s.identity
            /// The gateway's delivery of the event, retried while the process is still starting.
            @Sendable func deliver(to email: EmailCalendarV1.EmailCalendarService.Client<RPCClient>) async throws {
                try await Wait.until("the service takes the event", within: .seconds(120)) {
                    do {
                        _ = try await email.handleWebhook(event, options: identity)
                        return true
                    } catch let error as RPCError where error.code == .unavailable {
                        return false  // not listening yet
                    }
                }
            }
            func activities() async throws -> (all: Int, distinct: Int) {
                let row = try await s.db.query("SELECT count(*), count(DISTINCT external_id) FROM activities WHERE workspace_id = \(s.workspace)")[0]
                return (try row.decode(at: 0), try row.decode(at: 1))
            }

            let (first, firstClient) = try start()
            let delivery = Task { try? await deliver(to: firstClient) }
            try await Wait.until("the sync waits on the test's lock", within: .seconds(180)) {
                try await s.db.query(PostgresQuery(unsafeSQL: pausedWorker)).count == 1
            }
            kill(first.processIdentifier, SIGKILL)
            _ = await first.exit()
            delivery.cancel()
            // A backend waiting on a lock does not notice its client died: end it as the server
            // ends a dead client's session (its open batch rolls back), then lift the pause.
            try await s.db.query(PostgresQuery(unsafeSQL: "SELECT pg_terminate_backend(pid) FROM (\(pausedWorker)) w"))
            try await Wait.until("the killed sync's session has ended") { try await s.db.query(PostgresQuery(unsafeSQL: pausedWorker)).isEmpty }
            try await s.db.execute("DROP TRIGGER test_pause_mail_sync ON mailboxes")
            try await holder.query("SELECT pg_advisory_unlock(4343)")
            let killed = try await activities()
            #expect(killed.all == 100 && killed.distinct == 100, "the first batch committed, the second died: \(killed)")
            #expect(try await s.db.query("SELECT state, history_id IS NULL FROM mailboxes")[0].decode((String, Bool).self) == ("initial_sync", true))

            let (second, secondClient) = try start()
            defer { if second.isRunning { second.terminate() } }
            try await deliver(to: secondClient)
            let done = try await activities()
            #expect(done.all == messages && done.distinct == messages, "\(done)")
            let mailbox = try await s.db.query("SELECT state, messages_stored, history_id IS NOT NULL FROM mailboxes")[0]
            #expect(try mailbox.decode((String, Int, Bool).self) == ("active", messages, true))
            second.terminate()
            _ = await second.exit()
        }
    }
}
