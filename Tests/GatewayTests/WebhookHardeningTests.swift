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
}
