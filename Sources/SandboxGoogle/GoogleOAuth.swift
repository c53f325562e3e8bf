import Cryptography
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import Sandbox

/// The handlers of Google's OAuth endpoints.
struct GoogleOAuth: Sendable {
    let configuration: GoogleStandIn.Configuration
    let store: GoogleOAuthStore
    let signer: JWTSigner

    // MARK: Authorization and consent

    func authorize(_ request: Request) async -> Response {
        let q = request.uri.queryParameters
        func param(_ k: String) -> String? { q[Substring(k)].map(String.init) }
        guard let clientID = param("client_id"), clientID == configuration.clientID else {
            return page(400, "Error 401: invalid_client", "The OAuth client was not found.")
        }
        guard let redirect = param("redirect_uri"), configuration.redirectURIs.contains(redirect) else {
            // Google shows an error page and does not redirect to an unregistered URI.
            return page(400, "Error 400: redirect_uri_mismatch",
                        "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.")
        }
        let state = param("state")
        guard param("response_type") == "code" else { return redirectError(redirect, "unsupported_response_type", state) }
        let scopes = (param("scope") ?? "").split(whereSeparator: { $0 == " " || $0 == "+" }).map(String.init)
        guard !scopes.isEmpty else { return redirectError(redirect, "invalid_request", state) }
        let method = param("code_challenge_method") ?? "plain"
        guard ["S256", "plain"].contains(method) else { return redirectError(redirect, "invalid_request", state) }
        let user = configuration.users.first { $0.email == param("login_hint") || $0.sub == param("login_hint") } ?? configuration.users[0]
        let pending = GoogleOAuthStore.Pending(
            clientID: clientID, redirectURI: redirect, scopes: scopes, state: state, codeChallenge: param("code_challenge"),
            challengeMethod: method, offline: param("access_type") == "offline",
            forceConsent: (param("prompt") ?? "").split(separator: " ").contains("consent"), nonce: param("nonce"), user: user)
        switch await store.consent {
        case .approve:
            let granted = await store.grantedScopes.map { g in scopes.filter { g.contains($0) } } ?? scopes
            return await approve(pending, scopes: granted)
        case .deny:
            return redirectError(redirect, "access_denied", state)
        case .page:
            let id = await store.addPending(pending)
            return consentPage(id: id, pending: pending)
        }
    }

    func consent(_ request: Request) async throws -> Response {
        var request = request
        let form = (try? FormBody(String(buffer: try await request.collectBody(upTo: 64 * 1024)))) ?? (try! FormBody(""))
        guard let id = form["request"]?.string, let pending = await store.takePending(id) else {
            return page(400, "Error 400: invalid_request", "This consent request expired or was already answered.")
        }
        guard form["decision"]?.string == "approve" else { return redirectError(pending.redirectURI, "access_denied", pending.state) }
        // Unticked boxes are absent from the form: a partial grant.
        let ticked = Set(form.pairs.filter { $0.key == "scope" }.map(\.value))
        return await approve(pending, scopes: pending.scopes.filter { ticked.contains($0) })
    }

    private func approve(_ pending: GoogleOAuthStore.Pending, scopes: [String]) async -> Response {
        let code = await store.issueCode(for: pending, scopes: scopes)
        var query = [("code", code), ("scope", scopes.joined(separator: " "))]
        if let state = pending.state { query.append(("state", state)) }
        query += [("authuser", "0"), ("prompt", "consent")]
        return .redirect(to: pending.redirectURI, adding: query)
    }

    private func consentPage(id: String, pending: GoogleOAuthStore.Pending) -> Response {
        let boxes = pending.scopes.map {
            "<li><label><input type=\"checkbox\" name=\"scope\" value=\"\(html($0))\" checked> \(html($0))</label></li>"
        }.joined()
        let body = """
            <!doctype html><html><head><meta charset="utf-8"><title>Sign in - Google Accounts (sandbox)</title></head>
            <body><h1>nexa-sandbox wants to access your Google Account</h1>
            <p>\(html(pending.user.name)) &lt;\(html(pending.user.email))&gt;</p>
            <form method="post" action="consent"><input type="hidden" name="request" value="\(id)"><ul>\(boxes)</ul>
            <button name="decision" value="approve">Allow</button> <button name="decision" value="deny">Cancel</button>
            </form></body></html>
            """
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    // MARK: Token endpoint

    func token(_ request: Request) async throws -> Response {
        var request = request
        let raw = String(buffer: try await request.collectBody(upTo: 64 * 1024))
        guard let form = try? FormBody(raw) else { return error(400, "invalid_request", "Invalid request body.") }
        func param(_ k: String) -> String? { form[k]?.string }
        // client_secret_post, or HTTP Basic.
        var clientID = param("client_id"), secret = param("client_secret")
        if let auth = request.headers[.authorization], auth.hasPrefix("Basic "),
           let decoded = Data(base64Encoded: String(auth.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
           let colon = decoded.firstIndex(of: ":") {
            clientID = String(decoded[..<colon]).removingPercentEncoding
            secret = String(decoded[decoded.index(after: colon)...]).removingPercentEncoding
        }
        guard let grantType = param("grant_type") else { return error(400, "invalid_request", "Missing required parameter: grant_type") }
        guard clientID == configuration.clientID, secret == configuration.clientSecret else {
            return error(401, "invalid_client", "Unauthorized")
        }
        switch grantType {
        case "authorization_code":
            guard let code = param("code") else { return error(400, "invalid_request", "Missing required parameter: code") }
            guard let redirect = param("redirect_uri") else { return error(400, "invalid_request", "Missing required parameter: redirect_uri") }
            let redeemed: GoogleOAuthStore.Code
            switch await store.redeem(code) {
            case .unknown: return error(400, "invalid_grant", "Malformed auth code.")
            case .used, .expired: return error(400, "invalid_grant", "Bad Request")
            case .ok(let c): redeemed = c
            }
            guard redeemed.redirectURI == redirect, redeemed.grant.clientID == clientID else { return error(400, "invalid_grant", "Bad Request") }
            if let challenge = redeemed.codeChallenge {
                guard let verifier = param("code_verifier") else { return error(400, "invalid_grant", "Missing code verifier.") }
                let computed = redeemed.challengeMethod == "S256" ? Digest.base64URL(Digest.sha256(Array(verifier.utf8))) : verifier
                guard Digest.constantTimeEquals(Array(computed.utf8), Array(challenge.utf8)) else {
                    return error(400, "invalid_grant", "Invalid code verifier.")
                }
            }
            let (access, refresh) = await store.issueTokens(for: redeemed)
            var body: [String: JSON] = ["access_token": .string(access), "expires_in": .int(Int64(await store.accessTokenLifetime)), "token_type": "Bearer",
                                        "scope": .string(redeemed.grant.scopes.joined(separator: " "))]
            if let refresh { body["refresh_token"] = .string(refresh) }
            if redeemed.grant.scopes.contains("openid") { body["id_token"] = .string(try idToken(redeemed.grant)) }
            return .json(.object(body), headers: [.cacheControl: "no-cache, no-store, max-age=0, must-revalidate"])
        case "refresh_token":
            guard let token = param("refresh_token") else { return error(400, "invalid_request", "Missing required parameter: refresh_token") }
            guard let (access, grant) = await store.refresh(token, clientID: clientID!) else {
                return error(400, "invalid_grant", "Token has been expired or revoked.")
            }
            var body: [String: JSON] = ["access_token": .string(access), "expires_in": .int(Int64(await store.accessTokenLifetime)),
                                        "token_type": "Bearer", "scope": .string(grant.scopes.joined(separator: " "))]
            if grant.scopes.contains("openid") { body["id_token"] = .string(try idToken(grant)) }
            return .json(.object(body), headers: [.cacheControl: "no-cache, no-store, max-age=0, must-revalidate"])
        default:
            return error(400, "unsupported_grant_type", "Invalid grant_type: \(grantType)")
        }
    }

    func revoke(_ request: Request) async throws -> Response {
        var request = request
        let body = (try? FormBody(String(buffer: try await request.collectBody(upTo: 64 * 1024)))) ?? (try! FormBody(""))
        let token = request.uri.queryParameters["token"].map(String.init) ?? body["token"]?.string
        guard let token, await store.revoke(token) else {
            return .json(["error": "invalid_token", "error_description": "Token expired or revoked"], status: .badRequest)
        }
        return Response(status: .ok)
    }

    // MARK: OpenID

    func userinfo(_ request: Request) async -> Response {
        guard let auth = request.headers[.authorization], auth.hasPrefix("Bearer "),
              let grant = await store.grant(forAccessToken: String(auth.dropFirst(7))) else {
            return .json(["error": "invalid_request", "error_description": "Invalid Credentials"], status: .unauthorized,
                         headers: [.wwwAuthenticate: "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""])
        }
        var info: [String: JSON] = ["sub": .string(grant.user.sub)]
        if grant.scopes.contains("email") || grant.scopes.contains("https://www.googleapis.com/auth/userinfo.email") {
            info["email"] = .string(grant.user.email)
            info["email_verified"] = true
        }
        if grant.scopes.contains("profile") { info["name"] = .string(grant.user.name) }
        return .json(.object(info))
    }

    func jwks() -> Response {
        return .json(["keys": [signer.jwk]],
                     headers: [.cacheControl: "public, max-age=19800, must-revalidate, no-transform"])
    }

    func discovery(_ request: Request) -> Response {
        let base = (request.head.authority.map { "http://\($0)" } ?? "") + "/google"
        return .json([
            "issuer": .string(configuration.issuer),
            "authorization_endpoint": .string(base + "/accounts/o/oauth2/v2/auth"),
            "token_endpoint": .string(base + "/oauth2/token"),
            "userinfo_endpoint": .string(base + "/www/oauth2/v3/userinfo"),
            "revocation_endpoint": .string(base + "/oauth2/revoke"),
            "jwks_uri": .string(base + "/www/oauth2/v3/certs"),
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        ])
    }

    /// An RS256 ID token for the grant, verifiable with `jwks()`.
    func idToken(_ grant: GoogleOAuthStore.Grant) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        var claims: [String: JSON] = [
            "iss": .string(configuration.issuer), "azp": .string(grant.clientID), "aud": .string(grant.clientID),
            "sub": .string(grant.user.sub), "iat": .int(now), "exp": .int(now + 3600),
        ]
        if grant.scopes.contains("email") { claims["email"] = .string(grant.user.email); claims["email_verified"] = true }
        if grant.scopes.contains("profile") { claims["name"] = .string(grant.user.name) }
        if let nonce = grant.nonce { claims["nonce"] = .string(nonce) }
        return try signer.sign(.object(claims))
    }

    // MARK: Helpers

    private func error(_ status: Int, _ code: String, _ description: String) -> Response {
        .json(["error": .string(code), "error_description": .string(description)], status: .init(code: status))
    }

    private func redirectError(_ uri: String, _ error: String, _ state: String?) -> Response {
        .redirect(to: uri, adding: [("error", error)] + (state.map { [("state", $0)] } ?? []))
    }

    private func page(_ status: Int, _ title: String, _ text: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: "<!doctype html><html><body><h1>\(html(title))</h1><p>\(html(text))</p></body></html>")))
    }

    private func html(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
