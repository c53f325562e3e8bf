import CRM
import CurlHTTP
import EmailCalendar
import Foundation
import Hummingbird
import Messages
import HummingbirdTesting
import Logging
import Postgres
import Sandbox
import SandboxGoogle
import TestSupport
import Testing

/// A mailbox synced from the Google stand-in over real HTTP into a real database: the first
/// sync, pushes caught up from the cursor, a cursor Gmail forgot, and nothing stored twice.
@Suite(.hangGuard) struct MailboxSyncTests {
    struct Google: Sendable {
        let base: String
        let http: HTTPClient

        func post(_ path: String, _ json: String) async throws -> HTTPClientResponse {
            try await http.execute(.json(base + path, Array(json.utf8)))
        }

        /// Ana's access token, through the stand-in's authorization-code flow with PKCE.
        func token() async throws -> String {
            let config = GoogleStandIn.Configuration()
            func enc(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }
            _ = try await post("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            let scopes = "openid email https://www.googleapis.com/auth/gmail.modify https://www.googleapis.com/auth/calendar"
            let authorize = try await http.execute(HTTPClientRequest(url: base + "/google/accounts/o/oauth2/v2/auth?client_id=\(enc(config.clientID))"
                + "&redirect_uri=\(enc(config.redirectURIs[0]))&response_type=code&scope=\(enc(scopes))&state=s"
                + "&code_challenge=\(challenge)&code_challenge_method=S256&access_type=offline"))
            let location = try #require(authorize.header("Location"))
            let code = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
            let form = "code=\(enc(code))&client_id=\(enc(config.clientID))&client_secret=\(enc(config.clientSecret))"
                + "&redirect_uri=\(enc(config.redirectURIs[0]))&grant_type=authorization_code&code_verifier=\(verifier)"
            let tokens = try await http.execute(HTTPClientRequest(method: "POST", url: base + "/google/oauth2/token",
                                                                  headers: [.init("Content-Type", "application/x-www-form-urlencoded")], body: Array(form.utf8)))
            let json = try JSONSerialization.jsonObject(with: Data(tokens.body)) as? [String: Any]
            return try #require(json?["access_token"] as? String)
        }

        func deliver(from: String, subject: String, extraHeader: String? = nil) async throws {
            let raw = ["From: \(from)", "To: ana@nexa-demo.test", "Subject: \(subject)", "Message-ID: <\(UUID().uuidString)@example.com>"]
                + (extraHeader.map { [$0] } ?? []) + ["Content-Type: text/plain; charset=UTF-8", "", "Hello Ana"]
            let body = try JSONSerialization.data(withJSONObject: ["to": "ana@nexa-demo.test", "raw": raw.joined(separator: "\r\n")])
            #expect(try await http.execute(.json(base + "/_sandbox/google/gmail/deliver", Array(body))).status == 200)
        }
    }

    static func withGoogle(_ body: @escaping @Sendable (Google) async throws -> Void) async throws {
        let app = SandboxApp.build(standIns: [try GoogleStandIn()], port: 0, journal: Journal(), faults: Faults(),
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in try await body(Google(base: "http://127.0.0.1:\(client.port!)", http: HTTPClient())) }
    }

    @Test func startThenPushesThenAForgottenCursorStoreEachMessageWithACRMParticipantOnce() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (contact, lead) = try await db.withConnection { c in
            (try await Records.addContact(email: "buyer@example.com", workspace: workspace, in: c),
             try await Records.addLead(email: "lead@prospect.test", workspace: workspace, in: c))
        }
        try await Self.withGoogle { google in
            let token = try await google.token()
            let gmail = GmailClient(http: google.http, baseURL: google.base + "/google/gmail") { token }
            let sync = MailboxSync(db: db, settings: .init(topic: "projects/nexa/topics/gmail-push"))
            let connection = UUID()
            func activities() async throws -> [String] {
                try await db.query("SELECT subject FROM activities WHERE workspace_id = \(workspace) ORDER BY subject").map { try $0.decode(String.self, at: 0) }
            }

            // Already in the mailbox: a contact's mail, a stranger's, a newsletter from the contact.
            try await google.deliver(from: "Buyer <buyer@example.com>", subject: "1 renewal")
            try await google.deliver(from: "stranger@elsewhere.test", subject: "hello")
            try await google.deliver(from: "buyer@example.com", subject: "news", extraHeader: "List-Unsubscribe: <mailto:u@example.com>")
            let first = try await sync.start(connection: connection, workspace: workspace, owner: "ana@nexa-demo.test", gmail: gmail)
            #expect(first.full && first.seen == 3 && first.stored == 1 && first.bulk == 1 && first.withoutParticipant == 1)
            let mailbox = try await db.query("SELECT state, history_id IS NOT NULL, watch_expires_at > now() FROM mailboxes WHERE connection_id = \(connection)")[0]
            #expect(try mailbox.decode(String.self, at: 0) == "active" && mailbox.decode(Bool.self, at: 1) && mailbox.decode(Bool.self, at: 2))

            // A push: what arrived since the cursor, only that.
            try await google.deliver(from: "Lead <lead@prospect.test>", subject: "2 pricing")
            let pushed = try await sync.catchUp(connection: connection, gmail: gmail)
            #expect(!pushed.full && pushed.seen == 1 && pushed.stored == 1)
            #expect(try await sync.catchUp(connection: connection, gmail: gmail).seen == 0)  // a duplicate push changes nothing

            // Gmail forgot the cursor: a full sync of the window, without a second copy of anything.
            try await google.deliver(from: "buyer@example.com", subject: "3 contract")
            _ = try await google.post("/_sandbox/google/gmail/expire-history", "{}")
            let full = try await sync.catchUp(connection: connection, gmail: gmail)
            #expect(full.full && full.stored == 1)
            #expect(try await activities() == ["1 renewal", "2 pricing", "3 contract"])
            let touched = try await db.query("""
                SELECT (SELECT last_contacted_at IS NOT NULL FROM contacts WHERE id = \(contact)), (SELECT last_contacted_at IS NOT NULL FROM leads WHERE id = \(lead))
                """)[0]
            #expect(try touched.decode(Bool.self, at: 0) && touched.decode(Bool.self, at: 1))
            await #expect(throws: MailboxSync.Failure.self) { _ = try await sync.catchUp(connection: UUID(), gmail: gmail) }
        }
    }

    @Test func quotaFaultsAreRetriedThenClassedAndTheNextPassResumes() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await db.withConnection { c in _ = try await Records.addContact(email: "buyer@example.com", workspace: workspace, in: c) }
        try await Self.withGoogle { google in
            let token = try await google.token()
            let gmail = GmailClient(http: google.http, baseURL: google.base + "/google/gmail") { token }
            let sync = MailboxSync(db: db, settings: .init(topic: "projects/nexa/topics/gmail-push"))
            let connection = UUID()
            let fault = #"{"provider": "google", "method": "GET", "pathPrefix": "/gmail/gmail/v1/users/me/messages/", "status": 429, "times": TIMES}"#
            try await google.deliver(from: "buyer@example.com", subject: "one")
            try await google.deliver(from: "buyer@example.com", subject: "two")
            // Two 429s on messages.get: the platform's retry absorbs them.
            _ = try await google.post("/_sandbox/faults", fault.replacingOccurrences(of: "TIMES", with: "2"))
            #expect(try await sync.start(connection: connection, workspace: workspace, owner: "ana@nexa-demo.test", gmail: gmail).stored == 2)

            // Still limited after every retry: the pass fails as quota, the mailbox stays active, the cursor where it was.
            try await google.deliver(from: "buyer@example.com", subject: "three")
            _ = try await google.post("/_sandbox/faults", fault.replacingOccurrences(of: "TIMES", with: "4"))
            do {
                _ = try await sync.catchUp(connection: connection, gmail: gmail)
                Issue.record("a pass limited on every try succeeded")
            } catch let failure as ProviderFailure {
                guard case .rateLimited = failure else { Issue.record("classed \(failure)"); return }
                try await sync.recordFailure(failure, connection: connection)
            }
            var status = try #require(try await sync.status(workspace: workspace).first)
            #expect(status.state == "active" && status.failureClass == "quota" && status.messagesStored == 2)
            // The next pass (the next push or tick) resumes from the cursor and clears the failure.
            #expect(try await sync.catchUp(connection: connection, gmail: gmail).stored == 1)
            status = try #require(try await sync.status(workspace: workspace).first)
            #expect(status.failureClass == "" && status.messagesStored == 3)
        }
    }
}
