import CurlHTTP
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Platform
import Postgres
import Sandbox
import SandboxMicrosoft
import TestSupport
import Testing

/// Outlook connections: the OAuth round trip against the Microsoft identity platform stand-in
/// over real HTTP — short Graph scope names in the grant, the email from the ID token, refresh
/// tokens that rotate, a revoked grant, a denied consent.
@Suite(.hangGuard) struct MicrosoftOAuthTests {
    static func with(_ body: @escaping @Sendable (OAuthHarness) async throws -> Void) async throws {
        let microsoft = MicrosoftStandIn.Configuration()
        try await OAuthHarness.with(provider: "microsoft", standIn: { redirectURI in
            var configuration = microsoft
            configuration.redirectURIs = [redirectURI]
            return try MicrosoftStandIn(configuration: configuration)
        }, configured: { sandboxBase in
            let endpoints = ProviderEndpoints(stripeAPI: "", googleAccounts: "", googleOAuth2: "", googleAPIs: "", gmailAPI: "", smtp: "smtp://127.0.0.1:2525")
            return OAuthProvider.configured(endpoints: endpoints, environment: [
                "NEXA_MICROSOFT_CLIENT_ID": microsoft.clientID, "NEXA_MICROSOFT_CLIENT_SECRET": microsoft.clientSecret,
                "NEXA_MICROSOFT_LOGIN_URL": sandboxBase + "/microsoft/common/oauth2/v2.0"])["microsoft"]
        }, body)
    }

    @Test func connectRefreshWithRotatingTokensAndRevocation() async throws {
        try await Self.with { h in
            let (_, authorize, callback) = try await h.connect()
            let query = Dictionary(uniqueKeysWithValues: (URLComponents(string: authorize)?.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            #expect(query["response_mode"] == "query" && query["code_challenge_method"] == "S256" && query["prompt"] == "consent")
            #expect(query["scope"]?.contains("offline_access") == true && query["scope"]?.contains("https://graph.microsoft.com/Mail.Send") == true)
            // The grant names Graph scopes without their resource ("Mail.Send"): a full grant, not a partial one.
            #expect(callback.status == 200 && callback.bodyText.contains("ana@nexa-demo.test is connected"), "\(callback.bodyText)")
            let stored = try await h.connections.list(workspaceID: h.workspace)
            #expect(stored.count == 1 && stored[0].provider == "microsoft" && stored[0].status == "active" && stored[0].accountEmail == "ana@nexa-demo.test")

            // The access token works at Graph.
            let first = try await h.connections.accessToken(connectionID: stored[0].id, workspaceID: h.workspace)
            let me = try await h.http.execute(HTTPClientRequest(url: h.sandboxBase + "/microsoft/graph/v1.0/me",
                                                                headers: [.init("Authorization", "Bearer \(first.token)")]))
            #expect(me.status == 200 && me.bodyText.contains("ana@nexa-demo.test"))

            // Each refresh spends the refresh token it sends; the rotated one is kept and used next.
            let second = try await h.connections.refreshed(connectionID: stored[0].id, workspaceID: h.workspace, force: true)
            let third = try await h.connections.refreshed(connectionID: stored[0].id, workspaceID: h.workspace, force: true)
            #expect(Set([first.token, second.token, third.token]).count == 3)
            let sent = h.refreshTokensSent
            #expect(sent.count == 2 && sent[0] != sent[1], "the second refresh used the rotated token")

            // The user revokes access at Microsoft: the next refresh is invalid_grant → reauth_required.
            _ = try await h.http.execute(HTTPClientRequest(method: "POST", url: h.sandboxBase + "/_sandbox/microsoft/revoke"))
            await #expect(throws: (any Error).self) {
                _ = try await h.connections.refreshed(connectionID: stored[0].id, workspaceID: h.workspace, force: true)
            }
            #expect(try await h.connections.list(workspaceID: h.workspace)[0].status == "reauth_required")
            #expect(try await h.db.query("SELECT count(*) FROM alerts WHERE workspace_id = \(h.workspace) AND kind = 'reauth_required'")[0]
                .decode(Int.self, at: 0) == 1)
        }
    }

    @Test func deniedConsentAndAPartialGrantEndOnClearPages() async throws {
        try await Self.with { h in
            try await h.sandbox("/_sandbox/microsoft/settings", #"{"consent": "deny"}"#)
            let denied = try await h.connect().callback
            #expect(denied.status == 400 && denied.bodyText.contains("declined"), "\(denied.bodyText)")
            try await h.sandbox("/_sandbox/microsoft/settings", #"{"consent": "approve", "grant": ["openid", "email", "offline_access", "https://graph.microsoft.com/Mail.ReadWrite"]}"#)
            let partial = try await h.connect().callback
            #expect(partial.status == 403 || partial.status == 400, "\(partial.status)")
            #expect(partial.bodyText.contains("Mail.Send") && partial.bodyText.contains("Calendars.ReadWrite"), "\(partial.bodyText)")
            #expect(try await h.connections.list(workspaceID: h.workspace).isEmpty)
        }
    }
}

extension OAuthHarness {
    /// The refresh tokens sent to Microsoft's token endpoint, in order.
    var refreshTokensSent: [String] {
        journal.entries(provider: "microsoft").filter { $0.body.contains("grant_type=refresh_token") }.compactMap { entry in
            entry.body.split(separator: "&").first { $0.hasPrefix("refresh_token=") }.map { String($0.dropFirst(14)).removingPercentEncoding ?? "" }
        }
    }
}
