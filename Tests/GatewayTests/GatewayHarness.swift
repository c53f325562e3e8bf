import Cryptography
import CurlHTTP
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import TestSupport

/// A gateway's webhook ingress on a loopback port, over a fresh migrated database, with the inbox
/// writers running. Extra routes stand in for remote key material (JWKS, PayPal's certificate).
struct GatewayHarness: Sendable {
    let db: PostgresClient
    let workspace: UUID
    let vault: TokenVault
    let endpoints: WebhookEndpoints
    let base: String
    /// Where the harness serves JWKS (`/oauth2/v3/certs`) and PayPal's certificates (`/v1/notifications/certs/CERT-test`,
    /// issued by the test CA the verifier trusts; `…/CERT-self-signed`, the same key self-signed).
    let keysBase: String
    let http: HTTPClient
    let jwtKey: PrivateKey
    let paypal: PayPalVerifier

    /// The JWKS kid the harness signs Pub/Sub tokens with.
    static let kid = "test-key-1"

    static func with(limits: ConnectionLimits = ConnectionLimits(), _ body: @escaping @Sendable (GatewayHarness) async throws -> Void) async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let vault = try TokenVault(specification: TokenVault.generatedSpecification())
        // Found endpoints are looked up every time (tests change them); "not found" is kept for an hour, so
        // a test that counts lookups does not depend on how fast a loaded machine runs it (the default
        // second ran out between two requests once).
        let endpoints = WebhookEndpoints(db: db, vault: vault, cacheTTL: .zero, negativeCacheTTL: .seconds(3600))
        let inbox = WebhookInbox(db: db)
        let http = HTTPClient()
        let jwtKey = try PrivateKey(rsaBits: 2048)
        // Remote key material first (its port goes into the verifiers): Google's JWKS, PayPal's certificate.
        let keyRouter = Router()
        let (n, e) = jwtKey.publicComponents
        keyRouter.get("/oauth2/v3/certs") { _, _ in
            let jwks = #"{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"\#(kid)","n":"\#(Digest.base64URL(n))","e":"\#(Digest.base64URL(e))"}]}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: jwks)))
        }
        keyRouter.get("/v1/notifications/certs/CERT-test") { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: TestKeys.paypalChainedCertificatePEM)))
        }
        keyRouter.get("/v1/notifications/certs/CERT-self-signed") { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: TestKeys.paypalCertificatePEM)))
        }
        let keyServer = Application(router: keyRouter, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: TestDatabase.logger)
        try await keyServer.test(.live) { keys in
            let keysBase = "http://127.0.0.1:\(keys.port!)"
            let paypal = PayPalVerifier(http: http, allowedCertificateOrigins: [keysBase], trustedCertificatesPEM: Array(TestKeys.paypalCAPEM.utf8))
            let verifiers: [WebhookProvider: any WebhookVerifier] = [
                .stripe: StripeVerifier(), .zendesk: ZendeskVerifier(), .intercom: IntercomVerifier(),
                .googleCalendar: GoogleCalendarVerifier(), .microsoftGraph: MicrosoftGraphVerifier(), .mailchimp: MailchimpVerifier(),
                .sendgrid: SendGridVerifier(),
                .paypal: paypal,
                .googlePubSub: GooglePubSubVerifier(http: http, jwksURL: keysBase + "/oauth2/v3/certs"),
            ]
            let ingress = WebhookIngress(endpoints: endpoints, sink: .inbox(inbox), verifiers: verifiers, logger: TestDatabase.logger)
            let app = GatewayHTTP.make(host: "127.0.0.1", port: 0, ingress: ingress, maximumBodySize: 64 * 1024, limits: limits,
                                      logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await inbox.run() }
                try await app.test(.live) { client in
                    try await body(GatewayHarness(db: db, workspace: workspace, vault: vault, endpoints: endpoints,
                                                  base: "http://127.0.0.1:\(client.port!)", keysBase: keysBase, http: http, jwtKey: jwtKey,
                                                  paypal: paypal))
                }
                group.cancelAll()
            }
        }
    }

    func post(_ path: String, headers: [(String, String)] = [], body: [UInt8], method: String = "POST") async throws -> HTTPClientResponse {
        try await http.execute(HTTPClientRequest(method: method, url: base + path, headers: headers.map { .init($0.0, $0.1) },
                                                 body: method == "GET" ? nil : body))
    }

    func post(_ path: String, headers: [(String, String)] = [], text: String) async throws -> HTTPClientResponse {
        try await post(path, headers: headers, body: Array(text.utf8))
    }

    /// Inbox rows of this workspace: (provider, event id, event type).
    func stored() async throws -> [(provider: String, eventID: String, eventType: String)] {
        try await db.query("SELECT provider, event_id, event_type FROM webhook_inbox WHERE workspace_id = \(workspace) ORDER BY id")
            .map { (try $0.decode(at: 0), try $0.decode(at: 1), try $0.decode(at: 2)) }
    }
}
