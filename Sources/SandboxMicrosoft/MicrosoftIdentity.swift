import Cryptography
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Sandbox
import Synchronization

/// The handlers of the identity platform's endpoints and Graph's `/me`.
struct MicrosoftIdentity: Sendable {
    let configuration: MicrosoftStandIn.Configuration
    let state: IdentityStore
    let signer: JWTSigner

    /// Scopes as the token endpoint echoes them: Graph's without their resource prefix.
    static func short(_ scope: String) -> String {
        scope.hasPrefix("https://graph.microsoft.com/") ? String(scope.dropFirst("https://graph.microsoft.com/".count)) : scope
    }

    func authorize(_ request: Request, tenant: String) -> Response {
        let q = request.uri.queryParameters
        func param(_ k: String) -> String? { q[Substring(k)].map { String($0).removingPercentEncoding ?? String($0) } }
        guard ["common", "organizations", "consumers", configuration.tenantID].contains(tenant) else {
            return page("AADSTS90002: Tenant '\(tenant)' not found.")
        }
        guard param("client_id") == configuration.clientID else {
            return page("AADSTS700016: Application with identifier '\(param("client_id") ?? "")' was not found in the directory.")
        }
        guard let redirect = param("redirect_uri"), configuration.redirectURIs.contains(redirect) else {
            // The identity platform shows the error and does not redirect to an unregistered URI.
            return page("AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.")
        }
        let stateParameter = param("state")
        func back(_ pairs: [(String, String)]) -> Response {
            .redirect(to: redirect, adding: pairs + (stateParameter.map { [("state", $0)] } ?? []))
        }
        guard param("response_type") == "code" else {
            return back([("error", "unsupported_response_type"), ("error_description", "AADSTS700054: response_type 'code' is required.")])
        }
        let scopes = (param("scope") ?? "").split(whereSeparator: { $0 == " " || $0 == "+" }).map(String.init)
        guard !scopes.isEmpty else { return back([("error", "invalid_request"), ("error_description", "AADSTS900144: The request body must contain the following parameter: 'scope'.")]) }
        if let method = param("code_challenge_method"), method != "S256", method != "plain" {
            return back([("error", "invalid_request"), ("error_description", "AADSTS501491: Invalid code_challenge_method.")])
        }
        let (approve, grant) = state.withLock { ($0.approve, $0.grant) }
        guard approve else {
            return back([("error", "access_denied"), ("error_description", "AADSTS65004: User declined to consent to access the app.")])
        }
        let granted = grant.map { g in scopes.filter { g.contains($0) || g.contains(Self.short($0)) } } ?? scopes
        let code = "M." + Digest.base64URL(Digest.randomBytes(32))
        state.withLock {
            $0.codes[code] = .init(redirectURI: redirect, scopes: granted, challenge: param("code_challenge"), expires: Date().addingTimeInterval(600))
        }
        return back([("code", code)])
    }

    func token(_ request: Request) async throws -> Response {
        var request = request
        let raw = String(buffer: try await request.collectBody(upTo: 64 * 1024))
        guard let form = try? FormBody(raw) else { return failure(400, "invalid_request", "AADSTS900144", 900144, "The request body is not valid.") }
        func param(_ k: String) -> String? { form[k]?.string }
        guard param("client_id") == configuration.clientID else {
            return failure(400, "unauthorized_client", "AADSTS700016", 700016, "Application with identifier '\(param("client_id") ?? "")' was not found in the directory.")
        }
        guard param("client_secret") == configuration.clientSecret else {
            return failure(401, "invalid_client", "AADSTS7000215", 7_000_215, "Invalid client secret provided.")
        }
        switch param("grant_type") {
        case "authorization_code":
            guard let code = param("code") else { return failure(400, "invalid_request", "AADSTS900144", 900144, "The request body must contain the following parameter: 'code'.") }
            let (found, reused): (IdentityState.Code?, Bool) = state.withLock { s in
                guard !s.redeemed.contains(code) else { return (nil, true) }
                return (s.codes.removeValue(forKey: code).map { s.redeemed.insert(code); return $0 }, false)
            }
            if reused {
                return failure(400, "invalid_grant", "AADSTS54005", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
            }
            guard let found, found.expires > Date() else {
                return failure(400, "invalid_grant", "AADSTS70008", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
            }
            guard param("redirect_uri") == found.redirectURI else {
                return failure(400, "invalid_grant", "AADSTS500117", 500117, "The reply uri specified in the request isn't matching the reply uri configured.")
            }
            if let challenge = found.challenge {
                let computed = param("code_verifier").map { Digest.base64URL(Digest.sha256(Array($0.utf8))) } ?? ""
                guard Digest.constantTimeEquals(Array(computed.utf8), Array(challenge.utf8)) else {
                    return failure(400, "invalid_grant", "AADSTS501481", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
                }
            }
            return try issue(scopes: found.scopes)
        case "refresh_token":
            guard let token = param("refresh_token") else {
                return failure(400, "invalid_request", "AADSTS900144", 900144, "The request body must contain the following parameter: 'refresh_token'.")
            }
            // Refresh tokens rotate: the one used is spent.
            guard let scopes = state.withLock({ $0.refreshTokens.removeValue(forKey: token) }) else {
                return failure(400, "invalid_grant", "AADSTS70008", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
            }
            return try issue(scopes: scopes)
        case let other:
            return failure(400, "unsupported_grant_type", "AADSTS70003", 70003, "The app requested an unsupported grant type '\(other ?? "")'.")
        }
    }

    func me(_ request: Request) -> Response {
        if let refusal = state.refusal(request) { return refusal }
        return .json(["id": "87d349ed44d7d", "displayName": "Ana Demo", "mail": .string(configuration.email),
                      "userPrincipalName": .string(configuration.email)])
    }

    private func issue(scopes: [String]) throws -> Response {
        let access = "EwA" + Digest.base64URL(Digest.randomBytes(48))
        var body: [String: JSON] = [
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": .string(access),
            "scope": .string(scopes.filter { $0 != "offline_access" }.map(Self.short).joined(separator: " ")),
        ]
        state.withLock { $0.accessTokens.insert(access) }
        if scopes.contains("offline_access") {
            let refresh = "0.A" + Digest.base64URL(Digest.randomBytes(64))
            state.withLock { $0.refreshTokens[refresh] = scopes }
            body["refresh_token"] = .string(refresh)
        }
        if scopes.contains("openid") { body["id_token"] = .string(try idToken(email: scopes.contains("email"))) }
        return .json(.object(body), headers: [.cacheControl: "no-store"])
    }

    private func idToken(email: Bool) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        var claims: [String: JSON] = [
            "aud": .string(configuration.clientID), "iss": .string("https://login.microsoftonline.com/\(configuration.tenantID)/v2.0"),
            "iat": .int(now), "nbf": .int(now), "exp": .int(now + 3600), "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "tid": .string(configuration.tenantID), "preferred_username": .string(configuration.email), "ver": "2.0",
        ]
        if email { claims["email"] = .string(configuration.email) }
        return try signer.sign(.object(claims))
    }

    private func failure(_ status: Int, _ error: String, _ code: String, _ number: Int, _ text: String) -> Response {
        .json(MicrosoftStandIn.errorBody(error, code, number, text), status: .init(code: status))
    }

    private func page(_ message: String) -> Response {
        Response(status: .badRequest, headers: [.contentType: "text/html; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: "<!doctype html><title>Sign in to your account</title><p>\(message)</p>")))
    }
}
