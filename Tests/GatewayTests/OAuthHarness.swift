import CurlHTTP
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Platform
import Postgres
import Sandbox
import TestSupport
import Testing

/// A gateway's OAuth routes on a loopback port, over a fresh migrated database holding one user
/// (ana@nexa-demo.test), against one provider's stand-in in the sandbox over real HTTP.
struct OAuthHarness: Sendable {
    /// The gateway's public address as links and redirects name it.
    static let publicURL = "https://gateway.nexa.test"

    let providerName: String
    let db: PostgresClient
    let workspace: UUID
    let user: UUID
    let vault: TokenVault
    let provider: OAuthProvider
    let connections: Connections
    let links: ConnectLinks
    let gatewayBase: String
    let sandboxBase: String
    let journal: Journal
    let http: HTTPClient

    func get(_ url: String, headers: [(String, String)] = []) async throws -> HTTPClientResponse {
        try await http.execute(HTTPClientRequest(url: url, headers: headers.map { .init($0.0, $0.1) }))
    }

    /// POSTs `json` to one of the sandbox's control routes.
    func sandbox(_ path: String, _ json: String) async throws {
        _ = try await http.execute(.json(sandboxBase + path, Array(json.utf8)))
    }

    /// Plays the browser: connect link → gateway start → provider consent → gateway callback.
    func connect() async throws -> (start: HTTPClientResponse, authorize: String, callback: HTTPClientResponse) {
        let start = try await get(links.make(provider: providerName, workspaceID: workspace, userID: user).url
            .replacingOccurrences(of: Self.publicURL, with: gatewayBase))
        let authorize = try #require(start.header("Location"))
        let back = try #require(try await get(authorize).header("Location"))
        #expect(back.hasPrefix(Self.publicURL + "/oauth/\(providerName)/callback?"))
        return (start, authorize, try await get(back.replacingOccurrences(of: Self.publicURL, with: gatewayBase), headers: Self.cookie(from: start)))
    }

    /// The `Cookie` header a browser sends back after `response` set its cookie (none when it set none).
    static func cookie(from response: HTTPClientResponse) -> [(String, String)] {
        guard let set = response.header("Set-Cookie"), let pair = set.split(separator: ";").first else { return [] }
        return [("Cookie", String(pair))]
    }

    /// - Parameters:
    ///   - standIn: the provider's stand-in, allowing `redirectURI` (the gateway's callback).
    ///   - configured: the provider as the gateway configures it, given the sandbox's base URL.
    static func with(
        provider name: String, standIn: (_ redirectURI: String) throws -> any StandIn,
        configured: @escaping @Sendable (_ sandboxBase: String) throws -> OAuthProvider?,
        _ body: @escaping @Sendable (OAuthHarness) async throws -> Void
    ) async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let user = UUID()
        try await db.execute("INSERT INTO users (id, workspace_id, email, name) VALUES (\(user), \(workspace), 'ana@nexa-demo.test', 'Ana')")
        let journal = Journal()
        let sandbox = SandboxApp.build(standIns: [try standIn(publicURL + "/oauth/\(name)/callback")], port: 0, journal: journal,
                                       faults: Faults(), logger: TestDatabase.logger)
        try await sandbox.test(.live) { sandboxClient in
            let sandboxBase = "http://127.0.0.1:\(sandboxClient.port!)"
            let http = HTTPClient()
            let vault = try TokenVault(specification: TokenVault.generatedSpecification())
            let provider = try #require(try configured(sandboxBase))
            let tokens = TokenEndpoint(http: http)
            let connections = Connections(db: db, vault: vault, tokens: tokens, providers: [name: provider], logger: TestDatabase.logger)
            let flow = OAuthFlow(providers: [name: provider], db: db, vault: vault, tokens: tokens, connections: connections, publicURL: publicURL)
            let links = ConnectLinks(vault: vault, publicURL: publicURL)
            let routes = OAuthRoutes(flow: flow, links: links, authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)))
            let ingress = WebhookIngress(endpoints: WebhookEndpoints(db: db, vault: vault), sink: .discard, verifiers: [:], logger: TestDatabase.logger)
            let gateway = GatewayHTTP.make(host: "127.0.0.1", port: 0, ingress: ingress, oauth: routes, maximumBodySize: 1024, logger: TestDatabase.logger)
            try await gateway.test(.live) { gatewayClient in
                try await body(OAuthHarness(providerName: name, db: db, workspace: workspace, user: user, vault: vault, provider: provider,
                                            connections: connections, links: links, gatewayBase: "http://127.0.0.1:\(gatewayClient.port!)",
                                            sandboxBase: sandboxBase, journal: journal, http: http))
            }
        }
    }
}
