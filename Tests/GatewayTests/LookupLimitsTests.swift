import Cryptography
import CurlHTTP
import Foundation
import Gateway
import Messages
import Platform
import Postgres
import RPC
import TestSupport
import Testing

/// Ids in URLs and presented keys are chosen by whoever sends them: random ones must not fill
/// memory or reach the database without bound, and real endpoints and keys go on working.
@Suite(.hangGuard) struct LookupLimitsTests {
    static let flooder = "198.51.100.7"
    static let provider = "203.0.113.5"

    /// One delivery through the ingress, as the HTTP handler makes it, and its answer.
    static func deliver(_ ingress: WebhookIngress, id: String, body: String = "{}", headers: [String: String] = [:],
                        source: String) async -> WebhookIngress.Reply {
        await withCheckedContinuation { continuation in
            ingress.receive(provider: "stripe", endpointID: id, request: WebhookRequest(method: "POST", headers: headers, body: Array(body.utf8)),
                            source: source) { continuation.resume(returning: $0) }
        }
    }

    static func randomID() -> String { "we_" + Digest.base64URL(Digest.randomBytes(15)) }

    @Test func aHundredThousandRandomEndpointIdsCostBoundedMemoryAndLookupsWhileRealEndpointsAreServed() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let endpoints = WebhookEndpoints(db: db, vault: try TokenVault(specification: TokenVault.generatedSpecification()),
                                         cacheTTL: .zero, negativeCacheTTL: .seconds(600), cacheCapacity: 1000)
        // A budget that barely refills while the test runs: what reaches the database is the burst.
        let ingress = WebhookIngress(endpoints: endpoints, misses: MissBudget(burst: 50, perSecond: 0.001), sink: .discard,
                                     verifiers: [.stripe: StripeVerifier()], logger: TestDatabase.logger)
        let real = try await endpoints.create(workspaceID: workspace, provider: .stripe, secret: "whsec_lookup_limits")
        let event = #"{"id":"evt_limits","object":"event","type":"invoice.paid"}"#
        func signed() -> [String: String] {
            ["stripe-signature": WebhookIngressTests.stripeHeader(secret: "whsec_lookup_limits", body: event)]
        }
        // The flooding address used the real endpoint before (so it is cached, though expired: TTL zero).
        #expect(await Self.deliver(ingress, id: real.endpoint.id, body: event, headers: signed(), source: Self.flooder).status == 200)
        let before = endpoints.lookupsFromDatabase

        var statuses: [Int: Int] = [:]
        for i in 0..<100_000 {
            let id = i % 10 == 0 ? "not-an-endpoint-\(i)" : Self.randomID()
            statuses[await Self.deliver(ingress, id: id, source: Self.flooder).status, default: 0] += 1
        }
        #expect(statuses[404, default: 0] + statuses[429, default: 0] == 100_000)
        #expect(statuses[429, default: 0] > 89_000, "after its burst, the address is told to slow down: \(statuses)")
        // Malformed ids cost nothing; the well-formed ones at most the burst (and what refilled).
        let lookups = endpoints.lookupsFromDatabase - before
        #expect(lookups >= 50 && lookups <= 52, "database lookups for 100,000 random ids: \(lookups)")
        #expect(endpoints.cachedCount <= 1000)

        // The real endpoint is served: to a provider at another address, and (as last seen) to the flooder.
        #expect(await Self.deliver(ingress, id: real.endpoint.id, body: event, headers: signed(), source: Self.provider).status == 200)
        #expect(await Self.deliver(ingress, id: real.endpoint.id, body: event, headers: signed(), source: Self.flooder).status == 200)
        // Another address still has its own budget for ids it does not know.
        #expect(await Self.deliver(ingress, id: Self.randomID(), source: Self.provider).status == 404)
    }

    @Test func malformedEndpointIdsAreAnsweredAtTheRequestHeadWithoutALookup() async throws {
        try await GatewayHarness.with { h in
            let before = h.endpoints.lookupsFromDatabase
            // A large body to an id no endpoint can have: refused as unknown, not read into memory first.
            let response = try await h.post("/webhooks/stripe/we_%27%20OR%201%3D1%20--", body: [UInt8](repeating: 0x61, count: 200_000))
            #expect(response.status == 404)
            #expect(String(decoding: response.body, as: UTF8.self).contains("unknown webhook endpoint"))
            #expect(try await h.post("/webhooks/stripe/" + String(repeating: "x", count: 300), text: "{}").status == 404)
            #expect(h.endpoints.lookupsFromDatabase == before)
            // A well-formed id that does not exist is looked up once, then known not to exist.
            let unknown = Self.randomID()
            #expect(try await h.post("/webhooks/stripe/\(unknown)", text: "{}").status == 404)
            #expect(try await h.post("/webhooks/stripe/\(unknown)", text: "{}").status == 404)
            #expect(h.endpoints.lookupsFromDatabase == before + 1)
        }
    }

    @Test func randomAPIKeysCostBoundedMemoryAndLookupsWhileRealKeysWork() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (_, text) = try await APIKeys(db: db).create(workspaceID: workspace, name: "real", services: ["gateway"])
        let auth = APIKeyAuthenticator(keys: APIKeys(db: db), cacheTTL: .seconds(600), cacheCapacity: 1000,
                                       misses: MissBudget(burst: 50, perSecond: 0.001))
        let service = GatewayV1.GatewayService.descriptor
        let method = service.methods[0]
        func check(_ key: String, from source: String) async -> StatusCode? {
            do {
                _ = try await auth.authenticate(CallMetadata(apiKey: key), service: service, method: method, source: source)
                return nil
            } catch let error as RPCError {
                return error.code
            } catch {
                return .internalError
            }
        }
        let secret = Digest.base64URL(Digest.randomBytes(32))
        var codes: [StatusCode: Int] = [:]
        for i in 0..<100_000 {
            let key = i % 10 == 0 ? "nexa_\(i)" : "nexa_\(Digest.hex(Digest.randomBytes(8)))_\(secret)"
            codes[await check(key, from: Self.flooder) ?? .ok, default: 0] += 1
        }
        #expect(codes[.unauthenticated, default: 0] + codes[.resourceExhausted, default: 0] == 100_000)
        #expect(codes[.resourceExhausted, default: 0] > 89_000, "after its burst, the address is refused: \(codes)")
        #expect(codes[.unauthenticated, default: 0] <= 10_000 + 52)
        #expect(auth.cachedCount <= 1000)
        #expect(await check(text, from: Self.provider) == nil)
        #expect(await check(text, from: Self.flooder) == nil)  // cached: no lookup needed
    }
}
