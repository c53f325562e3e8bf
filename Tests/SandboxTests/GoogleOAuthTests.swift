import Cryptography
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Sandbox
import SandboxGoogle
import TestSupport
import Testing

/// Google's OAuth 2.0 authorization-code flow with PKCE against the stand-in, over real HTTP.
@Suite(.hangGuard) struct GoogleOAuthTests {
    static let config = GoogleStandIn.Configuration()
    static let redirect = config.redirectURIs[0]
    // RFC 7636 appendix B.
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    static let scopes = "openid email https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.send"

    struct Google: Sendable {
        let client: any TestClientProtocol

        func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
            try await client.execute(uri: uri, method: .get, headers: headers, body: nil)
        }

        func post(_ uri: String, form: String, headers: HTTPFields = [:]) async throws -> (status: Int, json: JSON) {
            var headers = headers
            headers[.contentType] = "application/x-www-form-urlencoded"
            let r = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: form))
            return (r.status.code, r.body.readableBytes > 0 ? (try? JSON.decode(Array(buffer: r.body))) ?? .null : .null)
        }

        func control(_ json: String) async throws {
            _ = try await client.execute(uri: "/_sandbox/google/settings", method: .post, headers: [:], body: ByteBuffer(string: json))
        }

        func authorizeURI(state: String = "st-123", extra: String = "") -> String {
            "/google/accounts/o/oauth2/v2/auth?client_id=\(enc(config.clientID))&redirect_uri=\(enc(redirect))&response_type=code"
                + "&scope=\(enc(scopes))&state=\(state)&code_challenge=\(challenge)&code_challenge_method=S256&access_type=offline" + extra
        }

        /// Query parameters of a redirect's Location.
        func redirectParameters(_ response: TestResponse) throws -> [String: String] {
            let location = try #require(response.headers[.location])
            #expect(location.hasPrefix(redirect + "?"))
            let query = location.split(separator: "?", maxSplits: 1).last.map(String.init) ?? ""
            return Dictionary(query.split(separator: "&").map { pair in
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                return (kv[0], kv.count > 1 ? kv[1] : "")
            }, uniquingKeysWith: { a, _ in a })
        }

        func exchange(_ code: String, verifier: String = verifier, redirectURI: String = redirect,
                      secret: String = config.clientSecret) async throws -> (status: Int, json: JSON) {
            try await post("/google/oauth2/token", form: "code=\(enc(code))&client_id=\(enc(config.clientID))&client_secret=\(enc(secret))"
                + "&redirect_uri=\(enc(redirectURI))&grant_type=authorization_code&code_verifier=\(verifier)")
        }
    }

    static func enc(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s }
    func enc(_ s: String) -> String { Self.enc(s) }

    func withGoogle(_ body: @escaping @Sendable (Google) async throws -> Void) async throws {
        let app = SandboxApp.build(standIns: [try GoogleStandIn()], port: 0, journal: Journal(), faults: Faults(),
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in try await body(Google(client: client)) }
    }

    @Test func consentPageThenCodeThenTokensWithAVerifiableIDToken() async throws {
        try await withGoogle { g in
            let page = try await g.get(g.authorizeURI())
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("gmail.send") && html.contains("name=\"decision\" value=\"approve\""))
            let requestID = try #require(html.range(of: "name=\"request\" value=\"").map { html[$0.upperBound...].prefix { $0 != "\"" } })
            // The person approves, unticking gmail.send: a partial grant.
            let granted = Self.scopes.split(separator: " ").filter { !$0.hasSuffix("gmail.send") }
            let form = "request=\(requestID)&decision=approve&" + granted.map { "scope=\(Self.enc(String($0)))" }.joined(separator: "&")
            let consent = try await g.client.execute(uri: "/google/accounts/o/oauth2/v2/consent", method: .post,
                                                     headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form))
            #expect(consent.status == .found)
            let params = try g.redirectParameters(consent)
            #expect(params["state"] == "st-123")
            #expect(params["scope"]?.contains("gmail.send") == false && params["scope"]?.contains("gmail.readonly") == true)
            let code = try #require(params["code"])

            let tokens = try await g.exchange(code)
            #expect(tokens.status == 200)
            #expect(tokens.json["token_type"] == "Bearer" && tokens.json["expires_in"] == 3599)
            #expect(tokens.json["access_token"].stringValue?.hasPrefix("ya29.") == true)
            #expect(tokens.json["refresh_token"].stringValue?.hasPrefix("1//") == true)
            #expect(tokens.json["scope"].stringValue?.contains("gmail.send") == false)

            // The ID token verifies with the published JWKS.
            let idToken = try #require(tokens.json["id_token"].stringValue)
            let parts = idToken.split(separator: ".").map(String.init)
            #expect(parts.count == 3)
            let header = try JSON.decode(try #require(Digest.base64URLDecode(parts[0])))
            let claims = try JSON.decode(try #require(Digest.base64URLDecode(parts[1])))
            #expect(header["alg"] == "RS256")
            #expect(claims["aud"].stringValue == Self.config.clientID && claims["email"] == "ana@nexa-demo.test")
            #expect(claims["iss"] == "https://accounts.google.com" && claims["sub"].stringValue == Self.config.users[0].sub)
            let jwks = try JSON.decode(Array(buffer: try await g.get("/google/www/oauth2/v3/certs").body))
            let jwk = try #require(jwks["keys"].arrayValue?.first { $0["kid"] == header["kid"] })
            let key = try PublicKey(rsaModulus: try #require(Digest.base64URLDecode(jwk["n"].stringValue!)),
                                       exponent: try #require(Digest.base64URLDecode(jwk["e"].stringValue!)))
            #expect(key.verifySHA256(try #require(Digest.base64URLDecode(parts[2])), message: Array((parts[0] + "." + parts[1]).utf8)))

            // Userinfo with the access token.
            let access = tokens.json["access_token"].stringValue!
            let info = try await g.get("/google/www/oauth2/v3/userinfo", headers: [.authorization: "Bearer \(access)"])
            #expect(info.status == .ok)
            #expect(try JSON.decode(Array(buffer: info.body))["email"] == "ana@nexa-demo.test")

            // The code is single-use.
            let again = try await g.exchange(code)
            #expect(again.status == 400 && again.json["error"] == "invalid_grant")
        }
    }

    @Test func theTokenEndpointRefusesWhatGoogleRefuses() async throws {
        try await withGoogle { g in
            try await g.control(#"{"consent": "approve"}"#)
            func code() async throws -> String { try #require(try g.redirectParameters(try await g.get(g.authorizeURI()))["code"]) }
            let badVerifier = try await g.exchange(try await code(), verifier: "x" + String(Self.verifier.dropFirst()))
            #expect(badVerifier.status == 400 && badVerifier.json["error"] == "invalid_grant")
            let badRedirect = try await g.exchange(try await code(), redirectURI: "http://127.0.0.1:8080/other")
            #expect(badRedirect.status == 400 && badRedirect.json["error"] == "invalid_grant")
            let badSecret = try await g.exchange(try await code(), secret: "wrong")
            #expect(badSecret.status == 401 && badSecret.json["error"] == "invalid_client")
            let missing = try await g.post("/google/oauth2/token", form: "client_id=\(enc(Self.config.clientID))&client_secret=\(enc(Self.config.clientSecret))")
            #expect(missing.status == 400 && missing.json["error"] == "invalid_request"
                && missing.json["error_description"] == "Missing required parameter: grant_type")
            let malformed = try await g.exchange("4/0not-a-code")
            #expect(malformed.json["error"] == "invalid_grant" && malformed.json["error_description"] == "Malformed auth code.")
        }
    }

    @Test func refreshRevocationAndRepeatConsent() async throws {
        try await withGoogle { g in
            try await g.control(#"{"consent": "approve"}"#)
            let first = try await g.exchange(try #require(try g.redirectParameters(try await g.get(g.authorizeURI()))["code"]))
            let refreshToken = try #require(first.json["refresh_token"].stringValue)
            // A second consent without prompt=consent brings no new refresh token; with it, one.
            let second = try await g.exchange(try #require(try g.redirectParameters(try await g.get(g.authorizeURI()))["code"]))
            #expect(second.status == 200 && second.json["refresh_token"] == .null)
            let forced = try await g.exchange(try #require(try g.redirectParameters(try await g.get(g.authorizeURI(extra: "&prompt=consent")))["code"]))
            #expect(forced.json["refresh_token"].stringValue != nil)

            let refreshForm = "client_id=\(enc(Self.config.clientID))&client_secret=\(enc(Self.config.clientSecret))&grant_type=refresh_token&refresh_token=\(enc(refreshToken))"
            let refreshed = try await g.post("/google/oauth2/token", form: refreshForm)
            #expect(refreshed.status == 200 && refreshed.json["access_token"].stringValue != nil && refreshed.json["refresh_token"] == .null)

            // Revocation at the revoke endpoint ends the refresh token.
            let revoke = try await g.client.execute(uri: "/google/oauth2/revoke?token=\(enc(refreshToken))", method: .post,
                                                    headers: [.contentType: "application/x-www-form-urlencoded"], body: nil)
            #expect(revoke.status == .ok)
            let after = try await g.post("/google/oauth2/token", form: refreshForm)
            #expect(after.status == 400 && after.json["error"] == "invalid_grant"
                && after.json["error_description"] == "Token has been expired or revoked.")
            let revokeAgain = try await g.client.execute(uri: "/google/oauth2/revoke?token=\(enc(refreshToken))", method: .post, headers: [:], body: nil)
            #expect(revokeAgain.status == .badRequest)

            // The sandbox can revoke a user's tokens, as a password change would.
            let other = try #require(forced.json["refresh_token"].stringValue)
            _ = try await g.client.execute(uri: "/_sandbox/google/revoke-refresh-tokens", method: .post, headers: [:],
                                           body: ByteBuffer(string: #"{"email": "ana@nexa-demo.test"}"#))
            let otherForm = "client_id=\(enc(Self.config.clientID))&client_secret=\(enc(Self.config.clientSecret))&grant_type=refresh_token&refresh_token=\(enc(other))"
            #expect(try await g.post("/google/oauth2/token", form: otherForm).json["error"] == "invalid_grant")
        }
    }

    @Test func deniedConsentAndUnregisteredRedirects() async throws {
        try await withGoogle { g in
            try await g.control(#"{"consent": "deny"}"#)
            let denied = try g.redirectParameters(try await g.get(g.authorizeURI(state: "s9")))
            #expect(denied["error"] == "access_denied" && denied["state"] == "s9" && denied["code"] == nil)
            let mismatch = try await g.get("/google/accounts/o/oauth2/v2/auth?client_id=\(enc(Self.config.clientID))"
                + "&redirect_uri=\(enc("http://evil.example/cb"))&response_type=code&scope=openid&state=x")
            #expect(mismatch.status == .badRequest && mismatch.headers[.location] == nil)
            #expect(String(buffer: mismatch.body).contains("redirect_uri_mismatch"))
        }
    }
}
