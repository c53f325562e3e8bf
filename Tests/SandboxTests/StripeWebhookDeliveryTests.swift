import Cryptography
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Sandbox
import SandboxStripe
import Synchronization
import TestSupport
import Testing

/// Deliveries POSTed to a real receiving server, as Stripe's webhook sender does.
@Suite(.hangGuard) struct StripeWebhookDeliveryTests {
    struct Delivered: Sendable {
        var body: [UInt8]
        var signature: String
        var contentType: String

        var event: JSON { (try? JSON.decode(body)) ?? .null }
    }

    final class Received: Sendable {
        let requests = Mutex<[Delivered]>([])
    }

    @Test func deliveriesArriveSignedAndCanBeDuplicatedReorderedOrStale() async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let received = Received()
        let router = Router()
        router.post("webhooks/stripe") { request, _ in
            var request = request
            let body = Array(buffer: try await request.collectBody(upTo: 1 << 20))
            received.requests.withLock {
                $0.append(Delivered(body: body, signature: request.headers[HTTPField.Name("Stripe-Signature")!] ?? "",
                                    contentType: request.headers[.contentType] ?? ""))
            }
            return Response(status: .ok)
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await receiver.test(.live) { receiverClient in
            let url = "http://127.0.0.1:\(receiverClient.port!)/webhooks/stripe"
            let sandbox = SandboxApp.build(standIns: [StripeStandIn()], port: 0, journal: Journal(), faults: Faults(), logger: logger)
            try await sandbox.test(.live) { client in
                let c = StripeStandInTests.Client(client: client)
                let (_, _, sub) = try await c.seedSubscription()
                _ = try await c.control(.delete, "deliveries")
                _ = try await c.control(.post, "subscriptions/\(sub)/fail")

                let sent = try await c.control(.post, "deliveries/send", json: #"{"url": "\#(url)"}"#).arrayValue ?? []
                #expect(sent.count == 4 && sent.allSatisfy { $0["status"] == 200 })
                let first = received.requests.withLock { $0 }
                // Projections are computed outside #expect: a closure inside the macro was seen to be
                // confused with a later closure of the same shape (different key) in this function.
                let types = first.map { $0.event["type"].stringValue ?? "" }
                #expect(types == [
                    "invoice.created", "invoice.finalized", "invoice.payment_failed", "customer.subscription.updated",
                ])
                let secret = StripeStandIn.Configuration().webhookSecret
                for delivery in first {
                    #expect(delivery.contentType == "application/json")
                    let fields = Dictionary(delivery.signature.split(separator: ",").map { part in
                        let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                        return (kv[0], kv[1])
                    }, uniquingKeysWith: { a, _ in a })
                    let t = try #require(fields["t"].flatMap { Int64($0) })
                    #expect(abs(t - Int64(Date().timeIntervalSince1970)) < 60)
                    #expect(Digest.hex(Digest.hmacSHA256(key: Array(secret.utf8), data: Array("\(t).".utf8) + delivery.body)) == fields["v1"])
                }

                received.requests.withLock { $0.removeAll() }
                _ = try await c.control(.post, "deliveries/send", json: #"{"url": "\#(url)", "duplicate": true, "reverse": true}"#)
                let again = received.requests.withLock { $0 }.map { $0.event["id"].stringValue ?? "" }
                let ids = first.map { $0.event["id"].stringValue ?? "" }
                #expect(again == ids.reversed().flatMap { [$0, $0] })

                received.requests.withLock { $0.removeAll() }
                _ = try await c.control(.post, "deliveries/send", json: #"{"url": "\#(url)", "stale_seconds": 3600}"#)
                let stale = received.requests.withLock { $0 }
                let t = stale.first.flatMap { $0.signature.split(separator: ",").first?.dropFirst(2) }.flatMap { Int64($0) }
                #expect(t.map { Int64(Date().timeIntervalSince1970) - $0 >= 3600 } == true)

                let refused = try await c.control(.post, "deliveries/send", json: #"{"url": "http://127.0.0.1:1/nowhere"}"#).arrayValue ?? []
                #expect(refused.first?["status"].stringValue?.hasPrefix("could_not_connect") == true)
            }
        }
    }
}
