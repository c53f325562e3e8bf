import Cryptography
import CurlHTTP
import Foundation
import Gateway
import Postgres
import TestSupport
import Testing

/// Each provider's signature scheme over real HTTP into a real inbox: good, bad, stale and replayed.
@Suite(.hangGuard) struct WebhookIngressTests {
    static func stripeHeader(secret: String, body: String, at time: Int = Int(Date().timeIntervalSince1970)) -> String {
        "t=\(time),v1=" + Digest.hex(Digest.hmacSHA256(key: Array(secret.utf8), data: Array("\(time).\(body)".utf8)))
    }

    @Test func stripeGoodBadStaleReplayedUnknownAndOversized() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .stripe, secret: "whsec_test_secret")
            let path = "/webhooks/stripe/\(endpoint.endpoint.id)"
            let body = #"{"id":"evt_1","object":"event","type":"invoice.payment_succeeded"}"#

            let good = try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(secret: "whsec_test_secret", body: body))], text: body)
            #expect(good.status == 200)
            // A replay of the same delivery (same event id, valid signature) is acknowledged and not stored again.
            let replay = try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(secret: "whsec_test_secret", body: body))], text: body)
            #expect(replay.status == 200)
            // While a secret rolls, Stripe sends one v1 per secret: any may match.
            let rolled = Self.stripeHeader(secret: "whsec_old", body: body.replacingOccurrences(of: "evt_1", with: "evt_2"))
                + ",v1=" + Self.stripeHeader(secret: "whsec_test_secret", body: body.replacingOccurrences(of: "evt_1", with: "evt_2")).split(separator: "=").last!
            let rolling = try await h.post(path, headers: [("Stripe-Signature", rolled)], text: body.replacingOccurrences(of: "evt_1", with: "evt_2"))
            #expect(rolling.status == 200)

            let forged = try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(secret: "whsec_wrong", body: body))],
                                          text: body.replacingOccurrences(of: "evt_1", with: "evt_3"))
            #expect(forged.status == 401)
            let tampered = try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(secret: "whsec_test_secret", body: body))],
                                            text: body.replacingOccurrences(of: "evt_1", with: "evt_4"))
            #expect(tampered.status == 401)
            let staleBody = body.replacingOccurrences(of: "evt_1", with: "evt_5")
            let stale = try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(
                secret: "whsec_test_secret", body: staleBody, at: Int(Date().timeIntervalSince1970) - 301))], text: staleBody)
            #expect(stale.status == 401 && stale.bodyText.contains("tolerance"))
            let unsigned = try await h.post(path, text: body)
            #expect(unsigned.status == 401)
            let notJSON = "hello"
            let malformed = try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(secret: "whsec_test_secret", body: notJSON))], text: notJSON)
            #expect(malformed.status == 400)

            #expect(try await h.post("/webhooks/stripe/we_nope", text: body).status == 404)
            #expect(try await h.post("/webhooks/zendesk/\(endpoint.endpoint.id)", text: body).status == 404)
            #expect(try await h.post("/webhooks/nope/\(endpoint.endpoint.id)", text: body).status == 404)
            let big = String(repeating: "x", count: 70 * 1024)
            #expect(try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(secret: "whsec_test_secret", body: big))], text: big).status == 413)

            try await h.endpoints.disable(id: endpoint.endpoint.id)
            #expect(try await h.post(path, headers: [("Stripe-Signature", Self.stripeHeader(secret: "whsec_test_secret", body: body))], text: body).status == 404)

            let rows = try await h.stored()
            #expect(rows.map(\.eventID) == ["evt_1", "evt_2"])
            #expect(rows.first?.eventType == "invoice.payment_succeeded")
            // The secret is sealed at rest: neither the text nor its bytes are in the row.
            let sealed = try await h.db.query("SELECT secret FROM webhook_endpoints WHERE id = \(endpoint.endpoint.id)")[0].decode([UInt8].self, at: 0)
            #expect(!String(decoding: sealed, as: UTF8.self).contains("whsec_test_secret"))
        }
    }

    @Test func zendeskBase64HMACOverTimestampAndBody() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .zendesk, secret: "zendesk-signing-secret")
            let path = "/webhooks/zendesk/\(endpoint.endpoint.id)"
            func signed(_ body: String, at date: Date = Date(), secret: String = "zendesk-signing-secret") -> [(String, String)] {
                let stamp = ISO8601DateFormatter().string(from: date)
                let mac = Digest.hmacSHA256(key: Array(secret.utf8), data: Array((stamp + body).utf8))
                return [("X-Zendesk-Webhook-Signature", Digest.base64(mac)), ("X-Zendesk-Webhook-Signature-Timestamp", stamp)]
            }
            let body = #"{"type":"zen:event-type:ticket.created","id":"2b24ef10","detail":{"id":"35436"}}"#
            #expect(try await h.post(path, headers: signed(body), text: body).status == 200)
            #expect(try await h.post(path, headers: signed(body), text: body).status == 200)
            let other = body.replacingOccurrences(of: "2b24ef10", with: "3c35")
            #expect(try await h.post(path, headers: signed(other, secret: "wrong"), text: other).status == 401)
            #expect(try await h.post(path, headers: signed(other, at: Date().addingTimeInterval(-600)), text: other).status == 401)
            #expect(try await h.stored().map(\.eventID) == ["2b24ef10"])
        }
    }

    @Test func intercomSHA1HubSignatureAndMaximumAge() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .intercom, secret: "client_secret_test")
            let path = "/webhooks/intercom/\(endpoint.endpoint.id)"
            func signed(_ body: String, secret: String = "client_secret_test") -> [(String, String)] {
                [("X-Hub-Signature", "sha1=" + Digest.hex(Digest.hmacSHA1(key: Array(secret.utf8), data: Array(body.utf8))))]
            }
            let now = Int(Date().timeIntervalSince1970)
            let body = #"{"type":"notification_event","id":"notif_1","topic":"conversation.user.created","created_at":\#(now)}"#
            #expect(try await h.post(path, headers: signed(body), text: body).status == 200)
            #expect(try await h.post(path, headers: signed(body, secret: "nope"), text: body).status == 401)
            let old = #"{"type":"notification_event","id":"notif_2","topic":"ping","created_at":\#(now - 2 * 86_400)}"#
            #expect(try await h.post(path, headers: signed(old), text: old).status == 401)
            #expect(try await h.stored().map(\.eventType) == ["conversation.user.created"])
        }
    }

    @Test func sendgridECDSAOverTimestampAndBody() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .sendgrid, config: ["public_key": TestKeys.sendgridPublicKey])
            #expect(endpoint.secret == nil)
            let path = "/webhooks/sendgrid/\(endpoint.endpoint.id)"
            let signer = try PrivateKey(pem: Array(TestKeys.sendgridPrivateKeyPEM.utf8))
            func signed(_ body: String, at time: Int = Int(Date().timeIntervalSince1970)) throws -> [(String, String)] {
                let signature = try signer.signSHA256(Array("\(time)\(body)".utf8))
                return [("X-Twilio-Email-Event-Webhook-Signature", Digest.base64(signature)), ("X-Twilio-Email-Event-Webhook-Timestamp", "\(time)")]
            }
            let body = #"[{"email":"ana@example.com","event":"open","sg_event_id":"e1","timestamp":1700000000}]"# + "\r\n"
            #expect(try await h.post(path, headers: try signed(body), text: body).status == 200)
            #expect(try await h.post(path, headers: try signed(body), text: body).status == 200)  // same batch again: stored once
            // The reference's genuine signature was made with SendGrid's key, not this endpoint's.
            let foreign = [("X-Twilio-Email-Event-Webhook-Signature",
                            "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="),
                           ("X-Twilio-Email-Event-Webhook-Timestamp", "\(Int(Date().timeIntervalSince1970))")]
            #expect(try await h.post(path, headers: foreign, text: body).status == 401)
            let stale = try signed(body.replacingOccurrences(of: "e1", with: "e2"), at: Int(Date().timeIntervalSince1970) - 900)
            #expect(try await h.post(path, headers: stale, text: body.replacingOccurrences(of: "e1", with: "e2")).status == 401)
            let rows = try await h.stored()
            #expect(rows.count == 1 && rows[0].eventID.hasPrefix("sha256:"))
        }
    }

    @Test func paypalCertificateSignatureOverCRC32Message() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .paypal, config: ["webhook_id": "WH1TEST"])
            let path = "/webhooks/paypal/\(endpoint.endpoint.id)"
            let signer = try PrivateKey(pem: Array(TestKeys.paypalPrivateKeyPEM.utf8))
            func signed(_ body: String, webhookID: String = "WH1TEST", time: Date = Date(), certificate: String? = nil) throws -> [(String, String)] {
                let stamp = ISO8601DateFormatter().string(from: time)
                let message = "tx-\(body.count)|\(stamp)|\(webhookID)|\(Digest.crc32(Array(body.utf8)))"
                return [("PAYPAL-TRANSMISSION-ID", "tx-\(body.count)"), ("PAYPAL-TRANSMISSION-TIME", stamp),
                        ("PAYPAL-TRANSMISSION-SIG", Digest.base64(try signer.signSHA256(Array(message.utf8)))),
                        ("PAYPAL-CERT-URL", certificate ?? h.keysBase + "/v1/notifications/certs/CERT-test"), ("PAYPAL-AUTH-ALGO", "SHA256withRSA")]
            }
            let body = #"{"id":"WH-1","event_type":"PAYMENT.SALE.COMPLETED","resource":{"id":"80F"}}"#
            #expect(try await h.post(path, headers: try signed(body), text: body).status == 200)
            #expect(try await h.post(path, headers: try signed(body, webhookID: "WH2OTHER"), text: body).status == 401)
            #expect(try await h.post(path, headers: try signed(body, time: Date().addingTimeInterval(-900)), text: body).status == 401)
            let offHost = try signed(body, certificate: "http://evil.example/cert.pem")
            #expect(try await h.post(path, headers: offHost, text: body).status == 401)
            let tampered = try signed(body)
            #expect(try await h.post(path, headers: tampered, text: body.replacingOccurrences(of: "80F", with: "81F")).status == 401)
            #expect(try await h.stored().map(\.eventType) == ["PAYMENT.SALE.COMPLETED"])
        }
    }

    @Test func pubsubPushOIDCTokenAgainstJWKS() async throws {
        try await GatewayHarness.with { h in
            let audience = h.base + "/webhooks/google_pubsub/gmail"
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .googlePubSub,
                                                       config: ["audience": audience, "service_account": "push@nexa.iam.gserviceaccount.com"])
            let path = "/webhooks/google_pubsub/\(endpoint.endpoint.id)"
            func token(aud: String = audience, email: String = "push@nexa.iam.gserviceaccount.com", exp: Int = Int(Date().timeIntervalSince1970) + 3600,
                       key: PrivateKey? = nil) throws -> [(String, String)] {
                let header = Digest.base64URL(Array(#"{"alg":"RS256","kid":"\#(GatewayHarness.kid)","typ":"JWT"}"#.utf8))
                let now = Int(Date().timeIntervalSince1970)
                let claims = Digest.base64URL(Array(#"{"iss":"https://accounts.google.com","aud":"\#(aud)","email":"\#(email)","email_verified":true,"iat":\#(min(now, exp - 60)),"exp":\#(exp)}"#.utf8))
                let signature = try (key ?? h.jwtKey).signSHA256(Array("\(header).\(claims)".utf8))
                return [("Authorization", "Bearer \(header).\(claims).\(Digest.base64URL(signature))")]
            }
            let data = Digest.base64(Array(#"{"emailAddress":"ana@example.com","historyId":"1234"}"#.utf8))
            let body = #"{"message":{"data":"\#(data)","messageId":"2070443601311540","publishTime":"2021-02-26T19:13:55.749Z"},"subscription":"projects/p/subscriptions/s"}"#
            #expect(try await h.post(path, headers: try token(), text: body).status == 200)
            #expect(try await h.post(path, headers: try token(), text: body).status == 200)
            #expect(try await h.post(path, headers: try token(aud: "https://elsewhere"), text: body).status == 401)
            #expect(try await h.post(path, headers: try token(email: "someone@else.com"), text: body).status == 401)
            #expect(try await h.post(path, headers: try token(exp: Int(Date().timeIntervalSince1970) - 600), text: body).status == 401)
            #expect(try await h.post(path, headers: try token(key: try PrivateKey(rsaBits: 2048)), text: body).status == 401)
            #expect(try await h.post(path, text: body).status == 401)
            #expect(try await h.stored().map(\.eventID) == ["2070443601311540"])
        }
    }

    @Test func calendarChannelTokenGraphHandshakeAndMailchimpURLSecret() async throws {
        try await GatewayHarness.with { h in
            let calendar = try await h.endpoints.create(workspaceID: h.workspace, provider: .googleCalendar)
            let token = try #require(calendar.secret)
            let calendarPath = "/webhooks/google_calendar/\(calendar.endpoint.id)"
            func channel(_ number: Int, token: String) -> [(String, String)] {
                [("X-Goog-Channel-ID", "ch-1"), ("X-Goog-Channel-Token", token), ("X-Goog-Message-Number", "\(number)"),
                 ("X-Goog-Resource-State", number == 1 ? "sync" : "exists"), ("X-Goog-Resource-ID", "res-1")]
            }
            #expect(try await h.post(calendarPath, headers: channel(1, token: token), body: []).status == 200)
            #expect(try await h.post(calendarPath, headers: channel(2, token: token), body: []).status == 200)
            #expect(try await h.post(calendarPath, headers: channel(2, token: token), body: []).status == 200)
            #expect(try await h.post(calendarPath, headers: channel(3, token: "guess"), body: []).status == 401)

            let graph = try await h.endpoints.create(workspaceID: h.workspace, provider: .microsoftGraph)
            let clientState = try #require(graph.secret)
            let graphPath = "/webhooks/microsoft_graph/\(graph.endpoint.id)"
            let handshake = try await h.post(graphPath + "?validationToken=Validation%3A%20Testing%20client%20application", text: "")
            #expect(handshake.status == 200 && handshake.bodyText == "Validation: Testing client application")
            #expect(handshake.header("Content-Type")?.hasPrefix("text/plain") == true)
            let notification = #"{"value":[{"subscriptionId":"s1","changeType":"created","resource":"Users/1/Messages/A","resourceData":{"id":"A"},"clientState":"\#(clientState)"}]}"#
            #expect(try await h.post(graphPath, text: notification).status == 202)
            #expect(try await h.post(graphPath, text: notification.replacingOccurrences(of: clientState, with: "forged")).status == 401)

            let mailchimp = try await h.endpoints.create(workspaceID: h.workspace, provider: .mailchimp)
            let secret = try #require(mailchimp.secret)
            let mailchimpPath = "/webhooks/mailchimp/\(mailchimp.endpoint.id)"
            #expect(try await h.post(mailchimpPath + "?secret=\(secret)", body: [], method: "GET").status == 200)
            #expect(try await h.post(mailchimpPath + "?secret=nope", body: [], method: "GET").status == 401)
            let form = "type=subscribe&fired_at=2009-03-26+21%3A35%3A57&data%5Bemail%5D=api%40mailchimp.com"
            #expect(try await h.post(mailchimpPath + "?secret=\(secret)", headers: [("Content-Type", "application/x-www-form-urlencoded")], text: form).status == 200)
            #expect(try await h.post(mailchimpPath, text: form).status == 401)

            let rows = try await h.stored()
            #expect(rows.map(\.eventID).prefix(2) == ["ch-1:1", "ch-1:2"])
            #expect(rows.map(\.eventType) == ["calendar.sync", "calendar.exists", "graph.notifications", "subscribe"])
        }
    }
}
