import Cryptography
import CurlHTTP
import Foundation
import Gateway
import Platform
import Postgres
import TestSupport
import Testing

/// What an attacker tries at the webhook edge: empty secrets, unsigned replays, any Google
/// service account, the Graph handshake as a page, error bodies that quote input.
@Suite(.hangGuard) struct WebhookHardeningTests {
    @Test func endpointsWithoutASecretOrAServiceAccountAreRefusedAtCreationAndAtDelivery() async throws {
        try await GatewayHarness.with { h in
            await #expect(throws: PlatformError.self) {
                _ = try await h.endpoints.create(workspaceID: h.workspace, provider: .stripe, secret: "")
            }
            await #expect(throws: PlatformError.self) {
                _ = try await h.endpoints.create(workspaceID: h.workspace, provider: .googlePubSub, config: ["audience": h.base + "/webhooks/x"])
            }
            // An endpoint stored without a secret (an older row, a manual edit) verifies nothing:
            // an empty HMAC key is one anyone can use.
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .intercom, secret: "client_secret_test")
            try await h.db.execute("UPDATE webhook_endpoints SET secret = NULL, secret_key_id = NULL WHERE id = \(endpoint.endpoint.id)")
            #expect(try await h.endpoints.lookup(id: endpoint.endpoint.id)?.secret == nil)  // the harness caches nothing
            let body = #"{"type":"notification_event","id":"notif_1","topic":"ping","created_at":\#(Int(Date().timeIntervalSince1970))}"#
            let forged = "sha1=" + Digest.hex(Digest.hmacSHA1(key: [], data: Array(body.utf8)))
            let response = try await h.post("/webhooks/intercom/\(endpoint.endpoint.id)", headers: [("X-Hub-Signature", forged)], text: body)
            #expect(response.status == 401)
            #expect(try await h.stored().isEmpty)
        }
    }

    @Test func anIntercomNotificationWithoutItsTimeIsRefused() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .intercom, secret: "client_secret_test")
            let body = #"{"type":"notification_event","id":"notif_9","topic":"conversation.user.created"}"#
            let signature = "sha1=" + Digest.hex(Digest.hmacSHA1(key: Array("client_secret_test".utf8), data: Array(body.utf8)))
            let response = try await h.post("/webhooks/intercom/\(endpoint.endpoint.id)", headers: [("X-Hub-Signature", signature)], text: body)
            #expect(response.status == 400 && response.bodyText.contains("created_at"))
            #expect(try await h.stored().isEmpty)
        }
    }

    @Test func theGraphHandshakeIsAShortPlainTextPostAndErrorBodiesAreJSON() async throws {
        try await GatewayHarness.with { h in
            let graph = try await h.endpoints.create(workspaceID: h.workspace, provider: .microsoftGraph)
            let path = "/webhooks/microsoft_graph/\(graph.endpoint.id)"
            let handshake = try await h.post(path + "?validationToken=abc", text: "")
            #expect(handshake.status == 200 && handshake.bodyText == "abc")
            #expect(handshake.header("Content-Type") == "text/plain; charset=utf-8" && handshake.header("X-Content-Type-Options") == "nosniff")
            #expect(try await h.post(path + "?validationToken=%3Cscript%3E", body: [], method: "GET").status == 400, "GET is no handshake")
            let long = String(repeating: "a", count: 1025)
            let refused = try await h.post(path + "?validationToken=" + long, text: "")
            #expect(refused.status == 400)
            // The refusal quotes nothing raw: its body is JSON a parser reads back.
            let quoted = try await h.post("/webhooks/intercom/" + (try await h.endpoints.create(workspaceID: h.workspace, provider: .intercom)).endpoint.id,
                                          headers: [("X-Hub-Signature", "sha1=00")], text: "{}")
            let message = (try JSONSerialization.jsonObject(with: Data(quoted.body))) as? [String: String]
            #expect(quoted.status == 401 && message?["message"]?.isEmpty == false)
        }
    }

    @Test func paypalCertificatesComeOnlyFromPayPalsCertificatePathsAndChainToTheBundle() async throws {
        let live = PayPalVerifier(http: HTTPClient(), trustedCertificatesPEM: nil)
        #expect(live.isAllowed(certificateURL: "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"))
        #expect(live.isAllowed(certificateURL: "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1"))
        for refused in ["http://api.paypal.com/v1/notifications/certs/CERT-1", "https://evil.paypal.com/v1/notifications/certs/CERT-1",
                        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1", "https://api.paypal.com/v1/oauth2/token",
                        "https://user@api.paypal.com/v1/notifications/certs/CERT-1", "https://api.paypal.com/v1/notifications/certs/CERT-1?x=1",
                        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1", "https://api.paypal.com/v1/notifications/certs/../../x"] {
            #expect(!live.isAllowed(certificateURL: refused), "\(refused)")
        }

        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .paypal, config: ["webhook_id": "WH1TEST"])
            let signer = try PrivateKey(pem: Array(TestKeys.paypalPrivateKeyPEM.utf8))
            let body = #"{"id":"WH-2","event_type":"PAYMENT.SALE.COMPLETED"}"#
            func signed(_ id: String, certificate: String) throws -> [(String, String)] {
                let stamp = ISO8601DateFormatter().string(from: Date())
                let message = "\(id)|\(stamp)|WH1TEST|\(Digest.crc32(Array(body.utf8)))"
                return [("PAYPAL-TRANSMISSION-ID", id), ("PAYPAL-TRANSMISSION-TIME", stamp),
                        ("PAYPAL-TRANSMISSION-SIG", Digest.base64(try signer.signSHA256(Array(message.utf8)))),
                        ("PAYPAL-CERT-URL", certificate), ("PAYPAL-AUTH-ALGO", "SHA256withRSA")]
            }
            let path = "/webhooks/paypal/\(endpoint.endpoint.id)"
            // The right key in a certificate that does not chain to the bundle: refused, and the
            // refusal is remembered (a second delivery does not fetch it again).
            let selfSigned = h.keysBase + "/v1/notifications/certs/CERT-self-signed"
            let first = try await h.post(path, headers: try signed("tx-1", certificate: selfSigned), text: body)
            #expect(first.status == 401)
            #expect(try await h.post(path, headers: try signed("tx-2", certificate: selfSigned), text: body).status == 401)
            #expect(h.paypal.certificateFetches == 1)
            // Off the certificate path of the allowed origin: refused without a fetch.
            #expect(try await h.post(path, headers: try signed("tx-3", certificate: h.keysBase + "/oauth2/v3/certs"), text: body).status == 401)
            #expect(h.paypal.certificateFetches == 1)
            #expect(try await h.stored().isEmpty)
            // The certificate the test CA issued: accepted.
            #expect(try await h.post(path, headers: try signed("tx-4", certificate: h.keysBase + "/v1/notifications/certs/CERT-test"), text: body).status == 200)
        }
    }
}
