import Cryptography
import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Sandbox
import SandboxStripe
import TestSupport
import Testing

/// The Stripe stand-in over real HTTP on 127.0.0.1.
@Suite(.hangGuard) struct StripeStandInTests {
    static let key = StripeStandIn.Configuration().apiKey
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func withSandbox(_ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        let app = SandboxApp.build(standIns: [StripeStandIn()], port: 0, journal: Journal(), faults: Faults(), logger: logger)
        try await app.test(.live) { client in try await body(Client(client: client)) }
    }

    /// A tiny Stripe client: form bodies, Bearer auth, JSON answers.
    struct Client: Sendable {
        typealias Execute = @Sendable (String, HTTPRequest.Method, HTTPFields, ByteBuffer?) async throws
            -> (status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer)
        let execute: Execute
        let port: Int?

        init(client: any TestClientProtocol) {
            execute = { uri, method, headers, body in
                let r = try await client.execute(uri: uri, method: method, headers: headers, body: body)
                return (r.status, r.headers, r.body)
            }
            port = client.port
        }

        /// A client on a connection of its own.
        init(connection: TestClient) {
            execute = { uri, method, headers, body in
                let r = try await connection.execute(.init(uri, method: method, headers: headers, body: body))
                return (r.status, r.head.headerFields, r.body ?? ByteBuffer())
            }
            port = nil
        }

        @discardableResult
        func call(_ method: HTTPRequest.Method, _ path: String, _ form: String = "", key: String? = StripeStandInTests.key,
                  headers extra: HTTPFields = [:]) async throws -> (status: Int, json: JSON, headers: HTTPFields) {
            var headers = extra
            if let key { headers[.authorization] = "Bearer \(key)" }
            if method == .post { headers[.contentType] = "application/x-www-form-urlencoded" }
            let uri = method == .post || form.isEmpty ? path : path + "?" + form
            let response = try await execute(uri, method, headers, method == .post ? ByteBuffer(string: form) : nil)
            let json = response.body.readableBytes > 0 ? try JSON.decode(Array(buffer: response.body)) : .null
            return (response.status.code, json, response.headers)
        }

        func control(_ method: HTTPRequest.Method, _ path: String, json: String? = nil) async throws -> JSON {
            let response = try await execute("/_sandbox/stripe/" + path, method, [:], json.map { ByteBuffer(string: $0) })
            return response.body.readableBytes > 0 ? try JSON.decode(Array(buffer: response.body)) : .null
        }

        /// A customer, a monthly price of 19.99 and a subscription of 3; returns their ids.
        func seedSubscription() async throws -> (customer: String, price: String, subscription: String) {
            let customer = try await call(.post, "/stripe/v1/customers", "email=ana@example.com&name=Ana").json["id"].stringValue!
            let price = try await call(.post, "/stripe/v1/prices", "currency=usd&unit_amount=1999&product_data[name]=Pro&recurring[interval]=month").json["id"].stringValue!
            let sub = try await call(.post, "/stripe/v1/subscriptions", "customer=\(customer)&items[0][price]=\(price)&items[0][quantity]=3&metadata[crm_deal_id]=deal_1")
            #expect(sub.status == 200)
            return (customer, price, sub.json["id"].stringValue!)
        }
    }

    @Test func authenticationFailuresLookLikeStripes() async throws {
        try await withSandbox { c in
            let missing = try await c.call(.get, "/stripe/v1/customers", key: nil)
            #expect(missing.status == 401)
            #expect(missing.json["error"]["type"] == "invalid_request_error")
            #expect(missing.json["error"]["message"].stringValue?.hasPrefix("You did not provide an API key.") == true)
            let wrong = try await c.call(.get, "/stripe/v1/customers", key: "sk_test_wrongkey1234")
            #expect(wrong.status == 401)
            #expect(wrong.json["error"]["message"] == "Invalid API Key provided: sk_test_****1234")
            let basic = try await c.execute(
                "/stripe/v1/customers", .get,
                [.authorization: "Basic " + Data((StripeStandInTests.key + ":").utf8).base64EncodedString()], nil)
            #expect(basic.status == .ok)
            #expect(basic.headers[HTTPField.Name("Request-Id")!]?.hasPrefix("req_") == true)
        }
    }

    @Test func parametersAreCheckedAsStripeChecksThem() async throws {
        try await withSandbox { c in
            let unknown = try await c.call(.post, "/stripe/v1/customers", "emial=typo@example.com")
            #expect(unknown.status == 400)
            #expect(unknown.json["error"]["code"] == "parameter_unknown" && unknown.json["error"]["param"] == "emial")
            let missing = try await c.call(.post, "/stripe/v1/prices", "unit_amount=100&product_data[name]=X")
            #expect(missing.status == 400 && missing.json["error"]["code"] == "parameter_missing" && missing.json["error"]["param"] == "currency")
            let absent = try await c.call(.get, "/stripe/v1/customers/cus_nope")
            #expect(absent.status == 404)
            #expect(absent.json["error"]["code"] == "resource_missing" && absent.json["error"]["message"] == "No such customer: 'cus_nope'")
            let badLimit = try await c.call(.get, "/stripe/v1/customers", "limit=1000")
            #expect(badLimit.status == 400)
            let oneTime = try await c.call(.post, "/stripe/v1/prices", "currency=usd&unit_amount=500&product_data[name]=Setup").json["id"].stringValue!
            let customer = try await c.call(.post, "/stripe/v1/customers", "email=x@example.com").json["id"].stringValue!
            let refused = try await c.call(.post, "/stripe/v1/subscriptions", "customer=\(customer)&items[0][price]=\(oneTime)")
            #expect(refused.status == 400)
        }
    }

    @Test func idempotencyKeysReplayRejectMismatchesAndConflicts() async throws {
        try await withSandbox { c in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "crm-customer-acct_42-v1"]
            let first = try await c.call(.post, "/stripe/v1/customers", "email=a@example.com&metadata[crm]=42", headers: key)
            let again = try await c.call(.post, "/stripe/v1/customers", "metadata[crm]=42&email=a@example.com", headers: key)
            #expect(again.json["id"] == first.json["id"])
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            let listed = try await c.call(.get, "/stripe/v1/customers")
            #expect(listed.json["data"].arrayValue?.count == 1)

            let mismatch = try await c.call(.post, "/stripe/v1/customers", "email=b@example.com", headers: key)
            #expect(mismatch.status == 400 && mismatch.json["error"]["type"] == "idempotency_error")

            // A validation failure is not remembered: the same key works once the request is fixed.
            let k2: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k2"]
            #expect(try await c.call(.post, "/stripe/v1/customers", "bogus=1", headers: k2).status == 400)
            #expect(try await c.call(.post, "/stripe/v1/customers", "email=c@example.com", headers: k2).status == 200)

            // A business error (404) is remembered and replayed.
            let k3: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k3"]
            let notFound = try await c.call(.post, "/stripe/v1/customers/cus_missing", "name=X", headers: k3)
            let replayed = try await c.call(.post, "/stripe/v1/customers/cus_missing", "name=X", headers: k3)
            #expect(notFound.status == 404 && replayed.status == 404)
            #expect(replayed.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")

            // The same key from a second connection while the first request is still executing: the
            // stand-in holds whichever begins first until the other has been refused.
            _ = try await c.control(.post, "settings", json: #"{"hold_until_conflict": true}"#)
            let k4: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k4"]
            let port = try #require(c.port)
            async let one = TestClient.withClient(host: "127.0.0.1", port: port) { first in
                try await Client(connection: first).call(.post, "/stripe/v1/customers", "email=d@example.com", headers: k4)
            }
            async let two = TestClient.withClient(host: "127.0.0.1", port: port) { second in
                try await Client(connection: second).call(.post, "/stripe/v1/customers", "email=d@example.com", headers: k4)
            }
            let answers = try await [one, two].sorted { $0.status < $1.status }
            #expect(answers.map(\.status) == [200, 409])
            #expect(answers[1].json["error"]["code"] == "idempotency_key_in_use")
        }
    }

    @Test func listsPaginateNewestFirst() async throws {
        try await withSandbox { c in
            var ids: [String] = []
            for i in 0..<5 { ids.append(try await c.call(.post, "/stripe/v1/customers", "email=u\(i)@example.com").json["id"].stringValue!) }
            let first = try await c.call(.get, "/stripe/v1/customers", "limit=2")
            #expect(first.json["object"] == "list" && first.json["has_more"] == true && first.json["url"] == "/v1/customers")
            #expect(first.json["data"].arrayValue?.compactMap { $0["id"].stringValue } == [ids[4], ids[3]])
            let rest = try await c.call(.get, "/stripe/v1/customers", "limit=10&starting_after=\(ids[3])")
            #expect(rest.json["data"].arrayValue?.compactMap { $0["id"].stringValue } == [ids[2], ids[1], ids[0]])
            #expect(rest.json["has_more"] == false)
            let byEmail = try await c.call(.get, "/stripe/v1/customers", "email=u2@example.com")
            #expect(byEmail.json["data"].arrayValue?.count == 1)
            let caseSensitive = try await c.call(.get, "/stripe/v1/customers", "email=U2@example.com")
            #expect(caseSensitive.json["data"].arrayValue?.isEmpty == true)
        }
    }

    @Test func payloadShapesFollowTheAPIVersion() async throws {
        try await withSandbox { c in
            let (_, _, sub) = try await c.seedSubscription()
            let basil = try await c.call(.get, "/stripe/v1/subscriptions/\(sub)").json
            #expect(basil["current_period_end"] == .null)
            #expect(basil["items"]["data"].arrayValue?.first?["current_period_end"].intValue != nil)
            let old: HTTPFields = [HTTPField.Name("Stripe-Version")!: "2024-12-18.acacia"]
            let acacia = try await c.call(.get, "/stripe/v1/subscriptions/\(sub)", headers: old).json
            #expect(acacia["current_period_end"].intValue != nil)
            #expect(acacia["items"]["data"].arrayValue?.first?["current_period_end"] == .null)

            let invoiceID = basil["latest_invoice"].stringValue!
            let newInvoice = try await c.call(.get, "/stripe/v1/invoices/\(invoiceID)").json
            #expect(newInvoice["parent"]["subscription_details"]["subscription"].stringValue == sub)
            #expect(newInvoice["parent"]["subscription_details"]["metadata"]["crm_deal_id"] == "deal_1")
            #expect(newInvoice["subscription"] == .null && newInvoice["paid"] == .null)
            let oldInvoice = try await c.call(.get, "/stripe/v1/invoices/\(invoiceID)", headers: old).json
            #expect(oldInvoice["subscription"].stringValue == sub && oldInvoice["paid"] == true)
            #expect(newInvoice["amount_paid"] == 5997 && newInvoice["status"] == "paid")
        }
    }

    @Test func billingCyclesEmitSignedEventsInTheWebhookVersion() async throws {
        try await withSandbox { c in
            _ = try await c.control(.post, "settings", json: #"{"webhook_api_version": "2024-12-18.acacia", "webhook_secrets": ["whsec_old", "whsec_new"]}"#)
            let (_, _, sub) = try await c.seedSubscription()
            _ = try await c.control(.delete, "deliveries")
            let failed = try await c.control(.post, "subscriptions/\(sub)/fail")
            #expect(failed["status"] == "open" && failed["attempt_count"] == 1 && failed["next_payment_attempt"].intValue != nil)
            let subscription = try await c.call(.get, "/stripe/v1/subscriptions/\(sub)").json
            #expect(subscription["status"] == "past_due")

            let deliveries = try #require(try await c.control(.get, "deliveries").arrayValue)
            let types = deliveries.map { $0["type"].stringValue ?? "" }
            #expect(types == [
                "invoice.created", "invoice.finalized", "invoice.payment_failed", "customer.subscription.updated",
            ])
            for delivery in deliveries {
                let body = Array(delivery["body"].stringValue!.utf8)
                let header = delivery["stripe_signature"].stringValue!
                let parts = header.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
                let t = try #require(parts.first { $0[0] == "t" }?[1])
                let v1 = parts.filter { $0[0] == "v1" }.map { $0[1] }
                #expect(v1.count == 2)  // one per secret while rolling
                for (secret, signature) in zip(["whsec_old", "whsec_new"], v1) {
                    #expect(Digest.hex(Digest.hmacSHA256(key: Array(secret.utf8), data: Array("\(t).".utf8) + body)) == signature)
                }
                let event = try JSON.decode(body)
                #expect(event["api_version"] == "2024-12-18.acacia")
            }
            let updated = try JSON.decode(Array(deliveries[3]["body"].stringValue!.utf8))
            #expect(updated["data"]["previous_attributes"]["status"] == "active")
            let failedEvent = try JSON.decode(Array(deliveries[2]["body"].stringValue!.utf8))
            #expect(failedEvent["data"]["object"]["subscription"].stringValue == sub)  // pre-basil shape

            _ = try await c.control(.post, "subscriptions/\(sub)/pay")
            #expect(try await c.call(.get, "/stripe/v1/subscriptions/\(sub)").json["status"] == "active")
            let events = try await c.call(.get, "/stripe/v1/events", "type=invoice.payment_succeeded").json["data"].arrayValue ?? []
            #expect(events.count == 2)  // the first invoice and the recovery
            let one = try await c.call(.get, "/stripe/v1/events/\(events[0]["id"].stringValue!)")
            #expect(one.status == 200 && one.json["type"] == "invoice.payment_succeeded")
        }
    }

    @Test func theSignatureMatchesStripesTestVector() {
        // From the provider reference (computed with Stripe's own SDK).
        let body = Array(#"{"id":"evt_test_1","object":"event","type":"invoice.payment_succeeded"}"#.utf8)
        #expect(StripeSignature.header(body: body, timestamp: 1_700_000_000, secrets: ["whsec_test_secret"])
            == "t=1700000000,v1=e8f5b64e0f68e4f48040b2652ec09b976c173610be8872f8b890ddb256135776")
    }

    @Test func requestsAreJournalledAndFaultsInjected() async throws {
        let journal = Journal(), faults = Faults()
        let app = SandboxApp.build(standIns: [StripeStandIn()], port: 0, journal: journal, faults: faults, logger: logger)
        try await app.test(.live) { client in
            let c = Client(client: client)
            faults.add(.init(provider: "stripe", method: "POST", pathPrefix: "/v1/customers", status: 429, retryAfter: 2, times: 2))
            let limited = try await c.call(.post, "/stripe/v1/customers", "email=x@example.com")
            #expect(limited.status == 429)
            #expect(limited.headers[.retryAfter] == "2")
            #expect(limited.json["error"]["code"] == "rate_limit" && limited.json["error"]["type"] == "invalid_request_error")
            #expect(try await c.call(.post, "/stripe/v1/customers", "email=x@example.com").status == 429)
            #expect(try await c.call(.post, "/stripe/v1/customers", "email=x@example.com").status == 200)
            let entries = journal.entries(provider: "stripe")
            #expect(entries.map(\.status) == [429, 429, 200])
            #expect(entries.last?.body == "email=x@example.com" && entries.last?.target == "/v1/customers")
            #expect(entries.last?.headers["authorization"]?.hasPrefix("Bearer ") == true)
            faults.add(.init(provider: "stripe", status: 503, times: 1))
            let unavailable = try await c.call(.get, "/stripe/v1/customers")
            #expect(unavailable.status == 503 && unavailable.json["error"]["type"] == "api_error")
            #expect(unavailable.headers[HTTPField.Name("Stripe-Should-Retry")!] == "true")
        }
    }
}

@Suite(.hangGuard) struct DroppedConnectionTests {
    @Test func aDropFaultClosesTheConnectionWithoutAnAnswer() async throws {
        let journal = Journal(), faults = Faults()
        let app = SandboxApp.build(standIns: [StripeStandIn()], port: 0, journal: journal, faults: faults,
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in
            faults.add(.init(provider: "stripe", dropConnection: true, times: 1))
            let http = CurlHTTP.HTTPClient()
            let url = "http://127.0.0.1:\(client.port!)/stripe/v1/customers"
            let auth = CurlHTTP.HTTPClientRequest.Header("Authorization", "Bearer \(StripeStandInTests.key)")
            do {
                _ = try await http.execute(CurlHTTP.HTTPClientRequest(url: url, headers: [auth]))
                Issue.record("a dropped connection produced a response")
            } catch let error as HTTPClientError {
                #expect(error.code == .transport)
            }
            #expect(try await http.execute(CurlHTTP.HTTPClientRequest(url: url, headers: [auth])).status == 200)
            #expect(journal.entries(provider: "stripe").map(\.status) == [0, 200])
        }
    }
}
