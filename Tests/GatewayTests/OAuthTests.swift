import Cryptography
import CurlHTTP
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Logging
import Messages
import Platform
import Postgres
import RPC
import RPCNIO
import Sandbox
import Synchronization
import SandboxGoogle
import ServiceLifecycle
import TestSupport
import Testing

/// The OAuth round trip against the Google stand-in over real HTTP, the token vault, refresh
/// single-flight, invalid_grant, disconnect and the idle refresh.
@Suite(.hangGuard) struct OAuthTests {
    static func with(_ body: @escaping @Sendable (OAuthHarness) async throws -> Void) async throws {
        let google = GoogleStandIn.Configuration()
        try await OAuthHarness.with(provider: "google", standIn: { redirectURI in
            var configuration = google
            configuration.redirectURIs = [redirectURI]
            return try GoogleStandIn(configuration: configuration)
        }, configured: { sandboxBase in
            let endpoints = ProviderEndpoints(stripeAPI: sandboxBase + "/stripe", googleAccounts: sandboxBase + "/google/accounts",
                                              googleOAuth2: sandboxBase + "/google/oauth2", googleAPIs: sandboxBase + "/google/www",
                                              gmailAPI: sandboxBase + "/google/gmail", smtp: "smtp://127.0.0.1:2525")
            return OAuthProvider.configured(endpoints: endpoints, environment: [
                "NEXA_GOOGLE_CLIENT_ID": google.clientID, "NEXA_GOOGLE_CLIENT_SECRET": google.clientSecret])["google"]
        }, body)
    }

    @Test func connectRoundTripStoresSealedTokensAndGetAccessTokenServesThem() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            let (start, _, callback) = try await h.connect()
            #expect(start.status == 302)
            let header = try #require(start.header("Location"))
            let location = try #require(URLComponents(string: header))
            let query = Dictionary(uniqueKeysWithValues: (location.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            #expect(query["code_challenge_method"] == "S256" && query["code_challenge"]?.count == 43)
            #expect(query["access_type"] == "offline" && query["prompt"] == "consent" && (query["state"]?.count ?? 0) >= 43)
            #expect(query["redirect_uri"] == OAuthHarness.publicURL + "/oauth/google/callback")
            #expect(callback.status == 200 && callback.bodyText.contains("ana@nexa-demo.test is connected"))
            // The exchange carried the PKCE verifier.
            let exchange = try #require(h.journal.entries(provider: "google").first { $0.body.contains("grant_type=authorization_code") })
            #expect(exchange.body.contains("code_verifier="))

            let stored = try await h.connections.list(workspaceID: h.workspace)
            #expect(stored.count == 1 && stored[0].status == "active" && stored[0].accountEmail == "ana@nexa-demo.test")
            #expect(stored[0].scopes.contains("https://www.googleapis.com/auth/gmail.send"))
            let token = try await h.connections.accessToken(connectionID: stored[0].id, workspaceID: h.workspace)
            // The token works at the provider, and it is nowhere in the row in clear.
            let me = try await h.get(h.sandboxBase + "/google/www/oauth2/v3/userinfo", headers: [("Authorization", "Bearer \(token.token)")])
            #expect(me.status == 200 && me.bodyText.contains("ana@nexa-demo.test"))
            let row = try await h.db.query("SELECT access_token, refresh_token, key_id FROM oauth_connections")[0]
            let sealed = try row.decode([UInt8].self, at: 0) + row.decode([UInt8].self, at: 1)
            #expect(!String(decoding: sealed, as: UTF8.self).contains(token.token))
            #expect(try row.decode(String.self, at: 2) == h.vault.activeKeyID)
            // Another workspace cannot use it.
            await #expect(throws: PlatformError.self) { try await h.connections.accessToken(connectionID: stored[0].id, workspaceID: UUID()) }
            // The owning service hears about it through the inbox.
            let event = try await h.db.query("SELECT provider, event_type FROM webhook_inbox WHERE workspace_id = \(h.workspace)")
            #expect(try event.map { try $0.decode(String.self, at: 1) } == ["connection.created"])

            // The state was single-use.
            let reused = try await h.get(h.gatewayBase + "/oauth/google/callback?code=x&state=" + (query["state"] ?? ""))
            #expect(reused.status == 400 && reused.bodyText.contains("expired"))
        }
    }

    @Test func partialGrantDenialTamperedLinkAndExpiredStateEndOnClearPages() async throws {
        try await Self.with { h in
            let withoutSend = h.provider.scopes.filter { $0 != "https://www.googleapis.com/auth/gmail.send" }
            let scopesJSON = withoutSend.map { "\"\($0)\"" }.joined(separator: ",")
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve", "granted_scopes": [\#(scopesJSON)]}"#)
            let partial = try await h.connect().callback
            #expect(partial.status == 400 && partial.bodyText.contains("Some permissions were not granted"))
            #expect(partial.bodyText.contains("gmail.send"))

            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "deny", "granted_scopes": null}"#)
            let denied = try await h.connect().callback
            #expect(denied.status == 400 && denied.bodyText.contains("declined"))
            #expect(try await h.connections.list(workspaceID: h.workspace).isEmpty)

            let link = h.links.make(provider: "google", workspaceID: h.workspace, userID: h.user).url
                .replacingOccurrences(of: OAuthHarness.publicURL, with: h.gatewayBase)
            let tampered = try await h.get(link.replacingOccurrences(of: h.user.uuidString.lowercased(), with: UUID().uuidString.lowercased()))
            #expect(tampered.status == 403 && !tampered.bodyText.contains("Exception"))
            let forged = try await h.get(h.gatewayBase + "/oauth/google/callback?code=x&state=not-a-state")
            #expect(forged.status == 400 && forged.bodyText.contains("expired"))

            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            let start = try await h.get(link)
            let consent = try await h.get(try #require(start.header("Location")))
            try await h.db.execute("UPDATE oauth_states SET expires_at = now() - interval '1 second'")
            let late = try await h.get(try #require(consent.header("Location")).replacingOccurrences(of: OAuthHarness.publicURL, with: h.gatewayBase),
                                       headers: OAuthHarness.cookie(from: start))
            #expect(late.status == 400 && late.bodyText.contains("older than 10 minutes"))
            // A user's HTML never carries markup from the provider's error text.
            let hostile = try await h.get(h.gatewayBase + "/oauth/nope/callback?state=%3Cscript%3E")
            #expect(hostile.status == 404 && !hostile.bodyText.contains("<script>"))
        }
    }

    @Test func tokenGrantsCountOnlyForTheServiceTheCallerProvesToBe() {
        let grants = ["gateway", "tokens:email_calendar", "tokens:support"]
        #expect(TokenScopes.providers(grantedBy: grants) == ["google", "microsoft", "zendesk", "intercom"])
        // Over mutual TLS the certificate names the caller: a key lent to another service reads nothing of this one's.
        #expect(TokenScopes.providers(grantedBy: grants, identity: "email_calendar") == ["google", "microsoft"])
        #expect(TokenScopes.providers(grantedBy: grants, identity: "marketing").isEmpty)
        #expect(TokenScopes.providers(grantedBy: ["*", "gateway"]).isEmpty)
    }

    @Test func aConnectLinkWorksOnceAndTheFlowEndsOnlyInTheBrowserThatStartedIt() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            let link = h.links.make(provider: "google", workspaceID: h.workspace, userID: h.user).url
                .replacingOccurrences(of: OAuthHarness.publicURL, with: h.gatewayBase)
            let start = try await h.get(link)
            #expect(start.status == 302)
            let setCookie = try #require(start.header("Set-Cookie"))
            #expect(setCookie.hasPrefix("nexa_oauth_google=") && setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax")
                && setCookie.contains("Path=/oauth/google/callback"))
            // The same link again (a forwarded email, a link in a chat): refused.
            let again = try await h.get(link)
            #expect(again.status == 403 && again.bodyText.contains("already used"))

            // The victim's browser lands on the callback of a flow someone else started: refused,
            // nothing connected, and the flow is left for the browser that started it.
            let consent = try await h.get(try #require(start.header("Location")))
            let callback = try #require(consent.header("Location")).replacingOccurrences(of: OAuthHarness.publicURL, with: h.gatewayBase)
            let noCookie = try await h.get(callback)
            #expect(noCookie.status == 403 && noCookie.bodyText.contains("another browser"))
            let otherCookie = try await h.get(callback, headers: [("Cookie", "nexa_oauth_google=" + String(repeating: "A", count: 43))])
            #expect(otherCookie.status == 403)
            #expect(try await h.connections.list(workspaceID: h.workspace).isEmpty)
            let own = try await h.get(callback, headers: OAuthHarness.cookie(from: start))
            #expect(own.status == 200 && own.bodyText.contains("is connected"))
        }
    }

    @Test func concurrentCallersAcrossReplicasShareOneRefresh() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            _ = try await h.connect()
            let listed = try await h.connections.list(workspaceID: h.workspace)
            let id = try #require(listed.first?.id)
            try await h.db.execute("UPDATE oauth_connections SET expires_at = now() + interval '10 seconds'")
            // A second replica: its own in-process state, the same database.
            let replica = Connections(db: h.db, vault: h.vault, tokens: TokenEndpoint(http: HTTPClient()), providers: ["google": h.provider],
                                      logger: TestDatabase.logger)
            let before = h.tokenRequests(grant: "refresh_token")
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<24 {
                    group.addTask { try await (i % 2 == 0 ? h.connections : replica).accessToken(connectionID: id, workspaceID: h.workspace).token }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1)
            #expect(h.tokenRequests(grant: "refresh_token") - before == 1)
            let expires = try await h.db.query("SELECT expires_at > now() + interval '50 minutes' FROM oauth_connections")[0].decode(Bool.self, at: 0)
            #expect(expires)
        }
    }

    @Test func refreshWindowIsHalfAShortLifetimeAndFiveMinutesOtherwise() {
        #expect(Connections.refreshWindow(lifetime: 120, jitter: 0) == 60)
        #expect(Connections.refreshWindow(lifetime: 120, jitter: 1) == 54)
        #expect(Connections.refreshWindow(lifetime: 3599, jitter: 0) == 300)
        #expect(Connections.refreshWindow(lifetime: nil, jitter: 0) == 300)  // stored before lifetimes were kept
        #expect(Connections.refreshWindow(lifetime: 3599, jitter: 0.5) == 285)
    }

    @Test func twoMinuteTokensAreNotRefreshedOnEveryCall() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve", "access_token_lifetime": 120}"#)
            _ = try await h.connect()
            let id = try #require(try await h.connections.list(workspaceID: h.workspace).first?.id)
            // Five minutes of simulated time in 2-second steps; 10 callers at every step.
            let clock = SimulatedClock(Date())
            let connections = Connections(db: h.db, vault: h.vault, tokens: TokenEndpoint(http: HTTPClient()),
                                          providers: ["google": h.provider], logger: TestDatabase.logger, now: { clock.now })
            let before = h.tokenRequests(grant: "refresh_token")
            for _ in 0..<150 {
                let expiries = try await withThrowingTaskGroup(of: Date.self) { group in
                    for _ in 0..<10 {
                        group.addTask { try await connections.accessToken(connectionID: id, workspaceID: h.workspace).expiresAt }
                    }
                    return try await group.reduce(into: [Date]()) { $0.append($1) }
                }
                #expect(expiries.allSatisfy { $0 > clock.now }, "a caller got a token that had expired")
                clock.advance(by: 2)
            }
            let refreshes = h.tokenRequests(grant: "refresh_token") - before
            #expect((4...6).contains(refreshes), "\(refreshes) refreshes in 5 minutes of 2-minute tokens")
        }
    }

    @Test func invalidGrantMarksReauthRequiredWithAnAlert() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            _ = try await h.connect()
            let listed = try await h.connections.list(workspaceID: h.workspace)
            let id = try #require(listed.first?.id)
            try await h.sandbox("/_sandbox/google/revoke-refresh-tokens", #"{"email": "ana@nexa-demo.test"}"#)
            try await h.db.execute("UPDATE oauth_connections SET expires_at = now()")
            do {
                _ = try await h.connections.accessToken(connectionID: id, workspaceID: h.workspace)
                Issue.record("a revoked grant produced a token")
            } catch let error as PlatformError {
                #expect(error.code == .failedPrecondition && error.message.contains("reconnect"))
            }
            #expect(try await h.connections.list(workspaceID: h.workspace)[0].status == "reauth_required")
            let alerts = try await h.db.query("SELECT kind, severity, recipient_user_id FROM alerts WHERE workspace_id = \(h.workspace)")
            #expect(alerts.count == 1)
            #expect(try alerts[0].decode(String.self, at: 0) == "reauth_required" && alerts[0].decode(UUID.self, at: 2) == h.user)
            // Asking again neither calls the provider nor raises a second alert.
            let before = h.tokenRequests(grant: "refresh_token")
            await #expect(throws: PlatformError.self) { try await h.connections.accessToken(connectionID: id, workspaceID: h.workspace) }
            #expect(h.tokenRequests(grant: "refresh_token") == before)
            #expect(try await h.db.query("SELECT 1 FROM alerts").count == 1)
            let events = try await h.db.query("SELECT event_type FROM webhook_inbox ORDER BY id").map { try $0.decode(String.self, at: 0) }
            #expect(events == ["connection.created", "connection.reauth_required"])
        }
    }

    @Test func idleConnectionsRefreshDailyAndDisconnectRevokesAndDeletes() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            _ = try await h.connect()
            let listed = try await h.connections.list(workspaceID: h.workspace)
            let id = try #require(listed.first?.id)
            let first = try await h.connections.accessToken(connectionID: id, workspaceID: h.workspace).token
            #expect(await h.connections.refreshIdle() == 0)
            try await h.db.execute("UPDATE oauth_connections SET refreshed_at = now() - interval '25 hours'")
            #expect(await h.connections.refreshIdle() == 1)
            let second = try await h.connections.accessToken(connectionID: id, workspaceID: h.workspace).token
            #expect(second != first)

            let disconnected = try await h.connections.disconnect(connectionID: id, workspaceID: h.workspace)
            #expect(disconnected.status == "disconnected")
            #expect(h.journal.entries(provider: "google").contains { $0.target.hasSuffix("/oauth2/revoke") && $0.status == 200 })
            let row = try await h.db.query("SELECT access_token IS NULL AND refresh_token IS NULL FROM oauth_connections")[0]
            #expect(try row.decode(Bool.self, at: 0))
            // The provider no longer honours the old token either.
            let me = try await h.get(h.sandboxBase + "/google/www/oauth2/v3/userinfo", headers: [("Authorization", "Bearer \(second)")])
            #expect(me.status == 401)
            await #expect(throws: PlatformError.self) { try await h.connections.accessToken(connectionID: id, workspaceID: h.workspace) }
        }
    }

    @Test func getAccessTokenOverRPCIsScopedToTheKeysWorkspace() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/google/settings", #"{"consent": "approve"}"#)
            _ = try await h.connect()
            let listed = try await h.connections.list(workspaceID: h.workspace)
            let id = try #require(listed.first?.id)
            let keys = APIKeys(db: h.db)
            let (_, key) = try await keys.create(workspaceID: h.workspace, name: "operator", services: ["gateway"])
            // The email & calendar service's identity: the one kind of key that reads Google tokens.
            let (_, tokenKey) = try await keys.create(workspaceID: h.workspace, name: "email_calendar service", services: ["gateway", "tokens:email_calendar"])
            let (_, everything) = try await keys.create(workspaceID: h.workspace, name: "admin", services: ["*"])
            let (_, marketing) = try await keys.create(workspaceID: h.workspace, name: "marketing service", services: ["gateway", "tokens:marketing"])
            let other = try await TestDatabase.workspace(in: h.db, name: "Other")
            let (_, otherKey) = try await keys.create(workspaceID: other, name: "other", services: ["gateway", "tokens:email_calendar"])
            let server = RPCServer(service: makeGatewayService(db: h.db, vault: h.vault, providers: ["google": h.provider]),
                                   configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: h.db)),
                                   logger: TestDatabase.logger)
            let group = ServiceGroup(services: [server], logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try await server.waitUntilListening().port!
                let client = GatewayV1.GatewayService.Client(transport: RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", port)])))
                var request = GatewayV1.GetAccessTokenRequest()
                request.connectionID = id.uuidString
                let token = try await client.getAccessToken(request, options: CallOptions(apiKey: tokenKey))
                #expect(!token.accessToken.isEmpty && token.accountEmail == "ana@nexa-demo.test" && token.expiresAtUnixMs > 0)
                // Any other grant — the gateway's, everything, another domain's tokens — is refused.
                for refused in [key, everything, marketing] {
                    do {
                        _ = try await client.getAccessToken(request, options: CallOptions(apiKey: refused))
                        Issue.record("a key without tokens:email_calendar read a Google token")
                    } catch let error as RPCError {
                        #expect(error.code == .permissionDenied && error.message.contains("google"))
                    }
                }
                do {
                    _ = try await client.getAccessToken(request, options: CallOptions(apiKey: otherKey))
                    Issue.record("another workspace's key read the token")
                } catch let error as RPCError {
                    #expect(error.code == .notFound)
                }
                var link = GatewayV1.CreateConnectLinkRequest()
                link.provider = "google"
                link.userID = h.user.uuidString
                let made = try await client.createConnectLink(link, options: CallOptions(apiKey: key))
                #expect(made.url.hasPrefix("http://127.0.0.1:8080/oauth/google/start?") && made.url.contains("sig="))
                let listed = try await client.listConnections(GatewayV1.ListConnectionsRequest(), options: CallOptions(apiKey: key))
                #expect(listed.connections.map(\.accountEmail) == ["ana@nexa-demo.test"])
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test func vaultRotatesKeysAndBindsCiphertextsToTheirRecord() throws {
        let old = TokenVault.generatedSpecification(id: "k1")
        let sealed = try TokenVault(specification: old).seal("refresh-1", context: "row-1")
        let rotated = try TokenVault(specification: TokenVault.generatedSpecification(id: "k2") + "," + old)
        #expect(rotated.activeKeyID == "k2")
        #expect(try rotated.openString(sealed, context: "row-1") == "refresh-1")
        #expect(rotated.seal("x", context: "row-1").keyID == "k2")
        #expect(throws: TokenVault.VaultError.cannotOpen(keyID: "k1")) { try rotated.open(sealed, context: "row-2") }
        var bent = sealed
        bent.box[14] ^= 1
        #expect(throws: TokenVault.VaultError.cannotOpen(keyID: "k1")) { try rotated.open(bent, context: "row-1") }
        #expect(throws: TokenVault.VaultError.unknownKeyID("k1")) {
            try TokenVault(specification: TokenVault.generatedSpecification(id: "k3")).open(sealed, context: "row-1")
        }
        #expect(throws: TokenVault.VaultError.noKeys) { try TokenVault(specification: "") }
        #expect(throws: TokenVault.VaultError.malformedKey("k9")) { try TokenVault(specification: "k9:c2hvcnQ") }
    }
}

/// A wall clock that moves only when the test moves it.
final class SimulatedClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

extension OAuthHarness {
    /// Requests to Google's token endpoint with `grant`.
    func tokenRequests(grant: String) -> Int {
        journal.entries(provider: "google").filter { $0.target.hasSuffix("/oauth2/token") && $0.body.contains("grant_type=\(grant)") }.count
    }
}
