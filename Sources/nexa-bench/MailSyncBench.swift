import ArgumentParser
import CRM
import CurlHTTP
import EmailCalendar
import Foundation
import Logging
import Platform
import Postgres

/// `nexa-bench mail-sync`: the initial sync of a mailbox served by the Google stand-in (a third of
/// its messages from the workspace's contacts, the rest from strangers), matched, analysed and
/// stored — beside the same listing and fetching with storing and analysis off, in interleaved
/// rounds, each sync into a fresh workspace with its contacts.
///
/// Gmail's per-user quota (250 units a second, 5 per `messages.get`) would pace any initial sync
/// at 50 messages a second; the limiter is left out on both sides so the figure is the pipeline's.
struct MailSyncBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mail-sync")
    @Option var databaseURL: String
    @Option(help: "The stand-in's base URL (nexa-sandbox).") var sandboxURL: String
    @Option var messages = 10_000
    @Option var contacts = 100_000
    @Option var rounds = 3
    @Option var concurrency = 8

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let db = PostgresClient(conninfo: databaseURL, maximumConnections: 4, logger: logger)
        try await Migrator(logger: logger).migrate(db)
        let http = HTTPClient()
        let token = try await Self.token(http: http, base: sandboxURL)
        let gmail = GmailClient(http: http, baseURL: sandboxURL + "/google/gmail") { token }

        // The mailbox: one in three messages from a contact, spread over the workspace's contacts.
        let seedStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<messages {
                if i >= 16 { try await group.next() }
                group.addTask {
                    let from = i % 3 == 0 ? "Contact \(i) <contact\((i * 7919) % contacts)@example.com>" : "Stranger <person\(i)@elsewhere.test>"
                    let body = try JSONSerialization.data(withJSONObject: [
                        "to": "ana@nexa-demo.test", "from": from, "subject": "Message \(i) about the renewal",
                        "text": "Hi Ana,\n\nCould we schedule a call next week to go over pricing for \(i % 50 + 5) seats? Thanks!\n\nBest,\nSomeone",
                    ])
                    let response = try await http.execute(.json(sandboxURL + "/_sandbox/google/gmail/deliver", Array(body)))
                    guard response.status == 200 else { throw ValidationError("the stand-in refused a message: \(response.status)") }
                }
            }
            try await group.waitForAll()
        }
        print(String(format: "mail sync: %d messages delivered to the stand-in in %.1f s", messages, (ContinuousClock.now - seedStart).inSeconds))

        var fetchOnly: [Double] = [], full: [Double] = []
        var stored = 0
        for round in 0..<rounds {
            // Fetch only: list and get every message, nothing else.
            let fetchStart = ContinuousClock.now
            let ids = try await gmail.messageIDs(labelId: "INBOX", query: GmailClient.window(after: Date().addingTimeInterval(-86_400)), limit: messages)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, id) in ids.enumerated() {
                    if n >= concurrency { try await group.next() }
                    group.addTask { _ = try await gmail.message(id: id) }
                }
                try await group.waitForAll()
            }
            fetchOnly.append(Double(ids.count) / (ContinuousClock.now - fetchStart).inSeconds)

            // The sync, into a fresh workspace with its contacts.
            let workspace = UUID()
            try await db.execute("INSERT INTO workspaces (id, name) VALUES (\(workspace), \("mail-sync bench \(round)"))")
            try await db.execute("""
                INSERT INTO contacts (id, workspace_id, email, first_name)
                SELECT gen_random_uuid(), \(workspace), 'contact' || n || '@example.com', 'C' || n FROM generate_series(0, \(contacts - 1)) n
                """)
            try await db.execute("ANALYZE contacts")
            var settings = MailboxSync.Settings(topic: "projects/nexa/topics/bench")
            settings.maximumMessages = messages
            settings.fetchConcurrency = concurrency
            let sync = MailboxSync(db: db, settings: settings)
            let syncStart = ContinuousClock.now
            let report = try await sync.start(connection: UUID(), workspace: workspace, owner: "ana@nexa-demo.test", gmail: gmail)
            full.append(Double(report.seen) / (ContinuousClock.now - syncStart).inSeconds)
            stored = report.stored
            try await db.execute("DELETE FROM workspaces WHERE id = \(workspace)")
        }
        let (f, s) = (Client.median(fetchOnly), Client.median(full))
        print(String(format: "mail sync of %d messages (%d with a contact, of %d contacts): matched, analysed and stored %.0f msg/s (target >= 500: %@)   fetch only %.0f msg/s   ratio %.2f (target >= 0.50: %@)",
                     messages, stored, contacts, s, s >= 500 ? "met" : "NOT met", f, s / f, s / f >= 0.5 ? "met" : "NOT met"))
        print("  rounds: sync " + full.map { String(format: "%.0f", $0) }.joined(separator: ", ") + " msg/s; fetch only "
              + fetchOnly.map { String(format: "%.0f", $0) }.joined(separator: ", ") + " msg/s")
    }

    /// Ana's access token from the stand-in: its authorization-code flow with consent answered at once.
    static func token(http: HTTPClient, base: String) async throws -> String {
        func enc(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }
        let client = "nexa-sandbox-client.apps.googleusercontent.com", secret = "GOCSPX-nexa-sandbox-secret"
        let redirect = "http://127.0.0.1:8080/oauth/google/callback"
        _ = try await http.execute(.json(base + "/_sandbox/google/settings", Array(#"{"consent": "approve"}"#.utf8)))
        let authorize = try await http.execute(HTTPClientRequest(url: base + "/google/accounts/o/oauth2/v2/auth?client_id=\(enc(client))"
            + "&redirect_uri=\(enc(redirect))&response_type=code&scope=\(enc("openid email https://www.googleapis.com/auth/gmail.modify"))&state=s"))
        guard let location = authorize.header("Location"),
              let code = URLComponents(string: location)?.queryItems?.first(where: { $0.name == "code" })?.value else {
            throw ValidationError("the stand-in gave no authorization code (\(authorize.status))")
        }
        let form = "code=\(enc(code))&client_id=\(enc(client))&client_secret=\(enc(secret))&redirect_uri=\(enc(redirect))&grant_type=authorization_code"
        let tokens = try await http.execute(HTTPClientRequest(method: "POST", url: base + "/google/oauth2/token",
                                                              headers: [.init("Content-Type", "application/x-www-form-urlencoded")], body: Array(form.utf8)))
        guard let json = try JSONSerialization.jsonObject(with: Data(tokens.body)) as? [String: Any], let token = json["access_token"] as? String else {
            throw ValidationError("the stand-in gave no access token (\(tokens.status))")
        }
        return token
    }
}
