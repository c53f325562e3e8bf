import CurlHTTP
import Foundation
public import Hummingbird
import HTTPTypes
import NIOCore
public import Sandbox

/// The Stripe API v1 stand-in: form-encoded requests with bracket notation, Bearer or Basic auth,
/// `Idempotency-Key` semantics, Stripe's error JSON, list envelopes, both payload shapes around
/// `2025-03-31.basil`, and signed webhook events (see `stripe.md` in the provider reference).
public struct StripeStandIn: StandIn {
    public struct Configuration: Sendable {
        public var apiKey = "sk_test_nexa_sandbox_4eC39HqLyjWDarjtT1zdp7dc"
        public var webhookSecret = "whsec_nexa_sandbox_secret"
        /// The account default when a request sends no `Stripe-Version`.
        public var defaultVersion = StripeVersion.current
        /// The webhook endpoint's pinned version: event payloads are rendered with it.
        public var webhookVersion = StripeVersion.current
        public var seed: UInt64 = 42

        public init() {}
    }

    public let name = "stripe"
    public let configuration: Configuration
    let store: StripeStore
    /// Sends webhooks (libcurl, like every outbound call in the system).
    let webhookSender = HTTPClient()

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        store = StripeStore(seed: configuration.seed, webhookVersion: configuration.webhookVersion,
                            webhookSecrets: [configuration.webhookSecret])
    }

    public var startupSummary: String {
        "API key \(configuration.apiKey), webhook secret \(configuration.webhookSecret), "
            + "version \(configuration.defaultVersion) (webhooks \(configuration.webhookVersion))"
    }

    public func addRoutes(to group: RouterGroup<SandboxContext>) {
        let api = StripeAPI(store: store)
        group.post("v1/customers") { r, _ in try await serve(r) { try await api.createCustomer($0) } }
        group.get("v1/customers") { r, _ in try await serve(r) { try await api.list("customer", $0, filter: api.customerFilter) } }
        group.get("v1/customers/:id") { r, c in try await serve(r) { _ in try await api.customer(c.parameters.require("id")) } }
        group.post("v1/customers/:id") { r, c in try await serve(r) { try await api.updateCustomer(c.parameters.require("id"), $0) } }
        group.post("v1/prices") { r, _ in try await serve(r) { try await api.createPrice($0) } }
        group.get("v1/prices") { r, _ in try await serve(r) { try await api.list("price", $0, filter: nil) } }
        group.get("v1/prices/:id") { r, c in try await serve(r) { _ in try await api.price(c.parameters.require("id")) } }
        group.post("v1/subscriptions") { r, _ in try await serve(r) { try await api.createSubscription($0) } }
        group.get("v1/subscriptions") { r, _ in try await serve(r) { try await api.list("subscription", $0, filter: api.subscriptionFilter) } }
        group.get("v1/subscriptions/:id") { r, c in try await serve(r) { try await api.subscription(c.parameters.require("id"), $0) } }
        group.post("v1/subscriptions/:id") { r, c in try await serve(r) { try await api.updateSubscription(c.parameters.require("id"), $0) } }
        group.delete("v1/subscriptions/:id") { r, c in try await serve(r) { try await api.cancelSubscription(c.parameters.require("id"), $0) } }
        group.get("v1/invoices") { r, _ in try await serve(r) { try await api.list("invoice", $0, filter: api.invoiceFilter) } }
        group.get("v1/invoices/:id") { r, c in try await serve(r) { try await api.invoice(c.parameters.require("id"), $0) } }
        group.get("v1/events") { r, _ in try await serve(r) { try await api.list("event", $0, filter: api.eventFilter) } }
        group.get("v1/events/:id") { r, c in try await serve(r) { _ in try await api.event(c.parameters.require("id")) } }
    }

    /// Authenticates, decodes the parameters, applies idempotency, runs `operation`, and answers
    /// with Stripe's headers and error shape.
    func serve(_ request: Request, _ operation: (StripeCall) async throws -> JSON) async throws -> Response {
        let requestID = await store.newID("req")
        var headers: HTTPFields = [HTTPField.Name("Request-Id")!: requestID]
        let version = request.headers[HTTPField.Name("Stripe-Version")!].map(StripeVersion.init) ?? configuration.defaultVersion
        headers[HTTPField.Name("Stripe-Version")!] = version.rawValue
        guard authorized(request) else {
            let presented = request.headers[.authorization] ?? ""
            let message = presented.isEmpty
                ? "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                : "Invalid API Key provided: \(Self.masked(presented))"
            return .json(StripeError(status: 401, type: "invalid_request_error", code: nil, message: message, param: nil,
                                     isStoredForIdempotency: false).json, status: .unauthorized, headers: headers)
        }
        var request = request
        let raw = String(buffer: try await request.collectBody(upTo: 1024 * 1024))
        let encoded = request.method == .get || request.method == .delete ? (request.uri.query ?? "") : raw
        let form: FormBody
        do {
            form = try FormBody(encoded)
        } catch {
            return .json(StripeError.invalid(error.key, "Invalid request: unable to parse parameter \(error.key)", code: "parameter_invalid").json,
                         status: .badRequest, headers: headers)
        }
        let call = StripeCall(form: form, version: version, requestID: requestID,
                              idempotencyKey: request.headers[HTTPField.Name("Idempotency-Key")!])

        // Idempotency applies to POSTs; GET and DELETE are idempotent by nature.
        let fingerprint = "\(request.method.rawValue) \(request.uri.path) " + form.pairs.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "&")
        if request.method == .post, let key = call.idempotencyKey {
            switch await store.beginIdempotent(key: key, fingerprint: fingerprint) {
            case .replay(let status, let body):
                headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
                return .json(body, status: .init(code: status), headers: headers)
            case .mismatch:
                return .json(StripeError(status: 400, type: "idempotency_error", code: nil,
                    message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '\(key)' if you meant to execute a different request.",
                    param: nil, isStoredForIdempotency: false).json, status: .badRequest, headers: headers)
            case .inFlight:
                await store.release(key)
                return .json(StripeError(status: 409, type: "idempotency_error", code: "idempotency_key_in_use",
                    message: "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): \(key). Please try again later.",
                    param: nil, isStoredForIdempotency: false).json, status: .conflict, headers: headers)
            case .proceed:
                let delay = await store.processingDelay
                if delay > .zero { try await Task.sleep(for: delay) }
                if await store.holdUntilConflict { await holdUntilConflict(key) }
            }
        }
        let (status, body, store): (Int, JSON, Bool)
        do {
            (status, body, store) = (200, try await operation(call), true)
        } catch let error as StripeError {
            (status, body, store) = (error.status, error.json, error.isStoredForIdempotency)
        }
        if request.method == .post, let key = call.idempotencyKey {
            await self.store.finishIdempotent(key: key, fingerprint: fingerprint, status: status, body: body, store: store)
        }
        return .json(body, status: .init(code: status), headers: headers)
    }

    /// The `hold_until_conflict` scenario: waits for a conflicting request with `key`, or 30 s
    /// at most (a scenario that never sends one must not hold the request forever).
    private func holdUntilConflict(_ key: String) async {
        let store = self.store
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await store.waitForConflict(key: key) }
            group.addTask { try? await Task.sleep(for: .seconds(30)) }
            await group.next()
            group.cancelAll()
            await store.release(key)
        }
    }

    private func authorized(_ request: Request) -> Bool {
        guard let value = request.headers[.authorization] else { return false }
        if value == "Bearer \(configuration.apiKey)" { return true }
        // HTTP Basic with the key as user name and an empty password is equivalent.
        if value.hasPrefix("Basic "), let decoded = Data(base64Encoded: String(value.dropFirst(6))),
           String(decoding: decoded, as: UTF8.self) == configuration.apiKey + ":" {
            return true
        }
        return false
    }

    /// `sk_test_****abcd`: Stripe shows only the last four characters.
    static func masked(_ header: String) -> String {
        let key = header.split(separator: " ").last.map(String.init) ?? header
        return key.count > 8 ? String(key.prefix(8)) + "****" + String(key.suffix(4)) : "****"
    }
}

/// What an operation sees of a request.
struct StripeCall: Sendable {
    var form: FormBody
    var version: StripeVersion
    var requestID: String
    var idempotencyKey: String?

    /// Refuses any top-level parameter outside `allowed` (plus `expand`), as Stripe does.
    func check(_ allowed: Set<String>) throws(StripeError) {
        for key in form.tree.keys.sorted() where !allowed.contains(key) && key != "expand" {
            throw StripeError.parameterUnknown(key)
        }
    }

    func string(_ key: String) -> String? { form[key]?.string }

    func require(_ key: String) throws(StripeError) -> String {
        guard let v = string(key), !v.isEmpty else { throw StripeError.parameterMissing(key) }
        return v
    }

    func integer(_ key: String, in value: String?) throws(StripeError) -> Int64? {
        guard let value else { return nil }
        guard let n = Int64(value) else { throw StripeError.invalid(key, "Invalid integer: \(value)") }
        return n
    }
}

extension StripeStandIn {
    /// Stripe's bodies for injected failures: 429 `rate_limit`, 5xx `api_error` (with
    /// `Stripe-Should-Retry: true`), other 4xx `invalid_request_error`.
    public func faultResponse(status: Int) -> (body: JSON, headers: [(String, String)]) {
        switch status {
        case 429:
            return (StripeError(status: 429, type: "invalid_request_error", code: "rate_limit",
                                message: "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                                param: nil, isStoredForIdempotency: false).json, [])
        case 500...:
            return (StripeError(status: status, type: "api_error", code: nil,
                                message: "Something went wrong on Stripe's end. (Request req_sandboxfault)", param: nil,
                                isStoredForIdempotency: false).json, [("Stripe-Should-Retry", "true")])
        default:
            return (StripeError(status: status, type: "invalid_request_error", code: nil, message: "Injected failure (\(status)).",
                                param: nil, isStoredForIdempotency: false).json, [])
        }
    }
}
