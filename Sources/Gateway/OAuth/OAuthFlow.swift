import Cryptography
public import Foundation
import Platform
public import Postgres

/// The authorization-code flow with PKCE: `start` makes the provider URL and a single-use state
/// bound to the workspace, the user, the verifier and the browser that started it (a random value
/// the browser keeps in a cookie); `complete` checks the state and the browser, exchanges the code,
/// checks the grant and stores the connection.
public struct OAuthFlow: Sendable {
    /// A failure the user reads on the result page: never a stack trace, never a secret.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var status: Int
        public var title: String
        public var detail: String
        public var description: String { "\(title): \(detail)" }
    }

    public let providers: [String: OAuthProvider]
    let db: PostgresClient
    let vault: TokenVault
    let tokens: TokenEndpoint
    let connections: Connections
    /// The gateway's public base URL; redirect URIs are `<publicURL>/oauth/<provider>/callback`.
    let publicURL: String
    public var stateLifetime: TimeInterval = 600

    public init(providers: [String: OAuthProvider], db: PostgresClient, vault: TokenVault, tokens: TokenEndpoint,
                connections: Connections, publicURL: String) {
        self.providers = providers
        self.db = db
        self.vault = vault
        self.tokens = tokens
        self.connections = connections
        self.publicURL = publicURL
    }

    public func redirectURI(_ provider: OAuthProvider) -> String { "\(publicURL)/oauth/\(provider.name)/callback" }

    private static func stateContext(_ hash: [UInt8]) -> String { "oauth_states.code_verifier:" + Digest.hex(hash) }

    /// A started flow: where to send the browser, and the value it must keep (the cookie
    /// `browserCookie(for:)` names) and bring back to the callback.
    public struct Started: Sendable, Hashable {
        public var authorizationURL: String
        public var browserBinding: String
    }

    /// The cookie that carries a flow's browser binding for `provider`'s callback.
    public static func browserCookie(for provider: String) -> String { "nexa_oauth_\(provider)" }

    /// The provider's authorization URL for `user` of `workspace`, with a fresh state, PKCE S256 and
    /// a browser binding.
    public func start(provider name: String, workspaceID: UUID, userID: UUID, loginHint: String? = nil) async throws(Failure) -> Started {
        guard let provider = providers[name] else {
            throw Failure(status: 404, title: "Unknown provider", detail: "\"\(name)\" is not a configured OAuth provider.")
        }
        let state = Digest.base64URL(Digest.randomBytes(32))
        let verifier = Digest.base64URL(Digest.randomBytes(48))  // 64 characters of [A-Za-z0-9-_]
        let binding = Digest.base64URL(Digest.randomBytes(32))
        let hash = Digest.sha256(Array(state.utf8))
        let sealed = vault.seal(verifier, context: Self.stateContext(hash))
        let stored: Int
        do {
            stored = try await db.execute("""
                INSERT INTO oauth_states (state_hash, workspace_id, user_id, provider, code_verifier, key_id, expires_at, browser_hash)
                SELECT \(hash), workspace_id, id, \(name), \(sealed.box), \(sealed.keyID), now() + \(stateLifetime) * interval '1 second',
                       \(Digest.sha256(Array(binding.utf8)))
                FROM users WHERE id = \(userID) AND workspace_id = \(workspaceID)
                """)
        } catch {
            throw Failure(status: 503, title: "Try again", detail: "The connection could not be started; please try again shortly.")
        }
        guard stored == 1 else { throw Failure(status: 404, title: "Unknown user", detail: "No such user in this workspace.") }
        var components = URLComponents(string: provider.authorizationURL)!
        var query = [
            URLQueryItem(name: "client_id", value: provider.clientID), URLQueryItem(name: "redirect_uri", value: redirectURI(provider)),
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "scope", value: provider.scopes.joined(separator: " ")),
            URLQueryItem(name: "state", value: state), URLQueryItem(name: "code_challenge", value: Digest.base64URL(Digest.sha256(Array(verifier.utf8)))),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        query += provider.authorizationParameters.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        if let loginHint { query.append(URLQueryItem(name: "login_hint", value: loginHint)) }
        components.queryItems = (components.queryItems ?? []) + query
        // `+` is legal in a query but means space to form decoders: encode it.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return Started(authorizationURL: components.string!, browserBinding: binding)
    }

    /// Marks a connect link used; false when it was used before (links are single-use).
    public func consume(_ link: ConnectLinks.Link) async throws(Failure) -> Bool {
        do {
            return try await db.execute("""
                WITH expired AS (DELETE FROM connect_link_uses WHERE expires_at < now() - interval '1 hour')
                INSERT INTO connect_link_uses (nonce_hash, workspace_id, expires_at)
                VALUES (\(Digest.sha256(Array(link.nonce.utf8))), \(link.workspace), \(link.expires))
                ON CONFLICT (nonce_hash) DO NOTHING
                """) == 1
        } catch {
            throw Failure(status: 503, title: "Try again", detail: "The connection could not be started; please try again shortly.")
        }
    }

    /// Handles the redirect back from the provider, in the browser that brought `browserBinding`
    /// (the cookie set at start).
    public func complete(provider name: String, query: [String: String], browserBinding: String?) async throws(Failure) -> Connections.Connection {
        guard let provider = providers[name] else {
            throw Failure(status: 404, title: "Unknown provider", detail: "\"\(name)\" is not a configured OAuth provider.")
        }
        guard let state = query["state"], !state.isEmpty else {
            throw Failure(status: 400, title: "Invalid request", detail: "The provider's answer carries no state.")
        }
        let hash = Digest.sha256(Array(state.utf8))
        let browser = Digest.sha256(Array((browserBinding ?? "").utf8))
        // Single use: the first request from the starting browser to consume a live state wins.
        let row: PostgresRow?
        var elsewhere = false
        do {
            row = try await db.query("""
                UPDATE oauth_states SET used_at = now()
                WHERE state_hash = \(hash) AND provider = \(name) AND used_at IS NULL AND expires_at > now() AND browser_hash = \(browser)
                RETURNING workspace_id, user_id, code_verifier, key_id
                """).first
            if row == nil {
                elsewhere = try await !db.query("""
                    SELECT 1 FROM oauth_states WHERE state_hash = \(hash) AND provider = \(name) AND used_at IS NULL AND expires_at > now()
                    """).isEmpty
            }
        } catch {
            throw Failure(status: 503, title: "Try again", detail: "The connection could not be completed; please start again shortly.")
        }
        if elsewhere {
            // A live flow, but not this browser's: someone else's link, opened here. Left for its own browser.
            throw Failure(status: 403, title: "Started in another browser",
                          detail: "This sign-in was started in a different browser. Nothing was connected. Open your own connect link to connect your account.")
        }
        guard let row, let workspace = try? row.decode(UUID.self, at: 0), let user = try? row.decode(UUID.self, at: 1),
              let box = try? row.decode([UInt8].self, at: 2), let keyID = try? row.decode(String.self, at: 3),
              let verifier = try? vault.openString(.init(keyID: keyID, box: box), context: Self.stateContext(hash)) else {
            throw Failure(status: 400, title: "This link has expired",
                          detail: "The sign-in request is unknown, was already used, or is older than \(Int(stateLifetime / 60)) minutes. Please start again.")
        }
        if let error = query["error"] {
            let detail = error == "access_denied" ? "You declined access, so nothing was connected."
                : "\(provider.name.capitalized) answered \"\(error)\". Nothing was connected."
            throw Failure(status: 400, title: "Not connected", detail: detail)
        }
        guard let code = query["code"], !code.isEmpty else {
            throw Failure(status: 400, title: "Invalid request", detail: "The provider's answer carries no code.")
        }
        let granted: TokenEndpoint.Tokens
        do throws(TokenEndpoint.Failure) {
            granted = try await tokens.exchange(code: code, verifier: verifier, redirectURI: redirectURI(provider), provider: provider)
        } catch .unavailable {
            throw Failure(status: 502, title: "\(provider.name.capitalized) is unavailable", detail: "Please try again in a few minutes.")
        } catch {
            throw Failure(status: 400, title: "Not connected", detail: "\(provider.name.capitalized) refused the sign-in (\(error)). Please start again.")
        }
        let missing = Self.missingScopes(requested: provider.scopes, granted: granted.scopes)
        guard missing.isEmpty else {
            throw Failure(status: 400, title: "Some permissions were not granted",
                          detail: "Nexa needs every requested permission to sync. Missing: \(missing.joined(separator: ", ")). Please start again and leave every box ticked.")
        }
        guard let email = granted.email, !email.isEmpty else {
            throw Failure(status: 400, title: "Not connected", detail: "\(provider.name.capitalized) did not tell which account was connected.")
        }
        guard granted.refreshToken != nil else {
            throw Failure(status: 400, title: "Not connected", detail: "\(provider.name.capitalized) granted no offline access. Please start again.")
        }
        do {
            return try await connections.save(workspaceID: workspace, userID: user, provider: provider, email: email, tokens: granted)
        } catch {
            throw Failure(status: 503, title: "Try again", detail: "The connection could not be saved; please start again shortly.")
        }
    }

    /// Requested scopes the grant lacks. OpenID protocol scopes are not echoed by every provider;
    /// `email` comes back as Google's `userinfo.email`; Graph scopes come back without their resource
    /// prefix, and Microsoft compares scope names without regard to case.
    static func missingScopes(requested: [String], granted: [String]) -> [String] {
        func normal(_ scope: String) -> String {
            switch scope {
            case "https://www.googleapis.com/auth/userinfo.email": "email"
            case "https://www.googleapis.com/auth/userinfo.profile": "profile"
            default: (scope.hasPrefix("https://graph.microsoft.com/") ? String(scope.dropFirst(28)) : scope).lowercased()
            }
        }
        let have = Set(granted.map(normal))
        return requested.filter { !["openid", "offline_access"].contains($0) && !have.contains(normal($0)) }
    }
}

/// Short-lived, single-use signed links that start the flow without an API key in the browser
/// (what `nexactl connect` prints): HMAC-SHA256 over provider, workspace, user, a nonce and expiry;
/// `OAuthFlow.consume` makes each one usable once.
public struct ConnectLinks: Sendable {
    private let key: [UInt8]
    let publicURL: String

    public init(vault: TokenVault, publicURL: String) {
        key = vault.derivedKey(purpose: "connect-links")
        self.publicURL = publicURL
    }

    /// A link whose signature and expiry held.
    public struct Link: Sendable, Hashable {
        public var workspace: UUID
        public var user: UUID
        public var nonce: String
        public var expires: Date
    }

    private func signature(_ provider: String, _ workspace: UUID, _ user: UUID, _ nonce: String, _ expires: Int) -> String {
        let signed = "\(provider)|\(workspace.uuidString.lowercased())|\(user.uuidString.lowercased())|\(nonce)|\(expires)"
        return Digest.base64URL(Digest.hmacSHA256(key: key, data: Array(signed.utf8)))
    }

    public func make(provider: String, workspaceID: UUID, userID: UUID, lifetime: TimeInterval = 900) -> (url: String, expires: Date) {
        let expires = Int(Date().timeIntervalSince1970 + lifetime)
        let nonce = Digest.base64URL(Digest.randomBytes(16))
        let url = "\(publicURL)/oauth/\(provider)/start?workspace=\(workspaceID.uuidString.lowercased())&user=\(userID.uuidString.lowercased())"
            + "&n=\(nonce)&expires=\(expires)&sig=\(signature(provider, workspaceID, userID, nonce, expires))"
        return (url, Date(timeIntervalSince1970: TimeInterval(expires)))
    }

    /// The link in `query` when its signature holds and it has not expired (whether it was used
    /// already is `OAuthFlow.consume`'s to say).
    public func verify(provider: String, query: [String: String], now: Date = Date()) -> Link? {
        guard let workspace = query["workspace"].flatMap(UUID.init(uuidString:)), let user = query["user"].flatMap(UUID.init(uuidString:)),
              let nonce = query["n"], !nonce.isEmpty, let expires = query["expires"].flatMap(Int.init), let sig = query["sig"],
              Digest.constantTimeEquals(Array(sig.utf8), Array(signature(provider, workspace, user, nonce, expires).utf8)),
              TimeInterval(expires) > now.timeIntervalSince1970 else { return nil }
        return Link(workspace: workspace, user: user, nonce: nonce, expires: Date(timeIntervalSince1970: TimeInterval(expires)))
    }
}
