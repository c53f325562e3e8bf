import Cryptography
import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Sandbox
import SandboxMicrosoft
import TestSupport
import Testing

/// The identity platform stand-in refuses what Azure AD refuses, in Azure AD's error shape.
@Suite(.hangGuard) struct MicrosoftStandInTests {
    @Test func tokenEndpointErrorsCarryTheirAADSTSCodes() async throws {
        let configuration = {
            var c = MicrosoftStandIn.Configuration()
            c.redirectURIs = ["https://app.test/cb"]
            return c
        }()
        let app = SandboxApp.build(standIns: [try MicrosoftStandIn(configuration: configuration)], port: 0, journal: Journal(), faults: Faults(),
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)/microsoft/common/oauth2/v2.0"
            let http = HTTPClient()
            let verifier = Digest.base64URL(Digest.randomBytes(32))
            let challenge = Digest.base64URL(Digest.sha256(Array(verifier.utf8)))
            func authorize(redirect: String = "https://app.test/cb") async throws -> HTTPClientResponse {
                try await http.execute(HTTPClientRequest(url: base + "/authorize?client_id=\(configuration.clientID)&response_type=code"
                    + "&redirect_uri=\(HTTPClientRequest.formEncode(redirect))&scope=openid%20offline_access%20Mail.Send&state=s1"
                    + "&code_challenge=\(challenge)&code_challenge_method=S256"))
            }
            func token(_ pairs: [(String, String)]) async throws -> [String: Any] {
                let response = try await http.execute(.form(base + "/token", [("client_id", configuration.clientID)] + pairs))
                var object = (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
                object["status"] = response.status
                return object
            }
            // An unregistered redirect URI is an error page, never a redirect.
            let stray = try await authorize(redirect: "https://evil.test/cb")
            #expect(stray.status == 400 && stray.header("Location") == nil && stray.bodyText.contains("AADSTS50011"))

            let back = try #require(try await authorize().header("Location"))
            #expect(back.hasPrefix("https://app.test/cb?code=") && back.hasSuffix("&state=s1"))
            let code = String(back.dropFirst("https://app.test/cb?code=".count).prefix { $0 != "&" }).removingPercentEncoding ?? ""
            let secret = ("client_secret", configuration.clientSecret)
            let badSecret = try await token([("grant_type", "authorization_code"), ("code", code), ("client_secret", "nope")])
            #expect(badSecret["status"] as? Int == 401 && badSecret["error"] as? String == "invalid_client")
            #expect((badSecret["error_codes"] as? [Int]) == [7_000_215] && badSecret["trace_id"] is String && badSecret["correlation_id"] is String)
            let badVerifier = try await token([("grant_type", "authorization_code"), ("code", code), secret, ("redirect_uri", "https://app.test/cb"),
                                               ("code_verifier", "wrong")])
            #expect(badVerifier["status"] as? Int == 400 && (badVerifier["error_codes"] as? [Int]) == [501_481])
            // The stand-in spends a code on any redemption attempt.
            let again = try await token([("grant_type", "authorization_code"), ("code", code), secret, ("redirect_uri", "https://app.test/cb"),
                                         ("code_verifier", verifier)])
            #expect(again["error"] as? String == "invalid_grant" && (again["error_codes"] as? [Int]) == [54005])

            let fresh = try #require(try await authorize().header("Location"))
            let second = String(fresh.dropFirst("https://app.test/cb?code=".count).prefix { $0 != "&" }).removingPercentEncoding ?? ""
            let granted = try await token([("grant_type", "authorization_code"), ("code", second), secret, ("redirect_uri", "https://app.test/cb"),
                                           ("code_verifier", verifier)])
            #expect(granted["status"] as? Int == 200 && granted["scope"] as? String == "openid Mail.Send" && granted["ext_expires_in"] as? Int == 3599)
            let refresh = try #require(granted["refresh_token"] as? String)
            let rotated = try await token([("grant_type", "refresh_token"), ("refresh_token", refresh), secret])
            #expect(rotated["refresh_token"] as? String != nil && rotated["refresh_token"] as? String != refresh)
            let spent = try await token([("grant_type", "refresh_token"), ("refresh_token", refresh), secret])
            #expect(spent["error"] as? String == "invalid_grant" && (spent["error_codes"] as? [Int]) == [70008])
        }
    }
}
