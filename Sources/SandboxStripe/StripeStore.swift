import Foundation
import Sandbox

/// The Stripe account the stand-in serves: resources, events, webhook deliveries, idempotency keys.
/// Ids are deterministic for a seed, so a scenario replays identically.
actor StripeStore {
    private(set) var customers: [String: Customer] = [:]
    private(set) var prices: [String: Price] = [:]
    private(set) var subscriptions: [String: Subscription] = [:]
    private(set) var invoices: [String: Invoice] = [:]
    private(set) var events: [Event] = []
    /// Signed webhook deliveries, oldest first.
    private(set) var deliveries: [Delivery] = []
    /// Creation order of each resource kind, for list endpoints (newest first).
    private var order: [String: [String]] = [:]
    private var rng: SeededGenerator
    private var invoiceNumber = 0
    var webhookVersion: StripeVersion
    var webhookSecrets: [String]
    /// Extra time POSTs spend "executing" (to observe in-flight idempotency conflicts).
    var processingDelay: Duration = .zero
    /// POSTs with an idempotency key wait, once begun, until a second request with their key has
    /// been refused as in flight (a scenario that makes the two overlap on purpose, not by timing).
    var holdUntilConflict = false
    private var idempotency: [String: IdempotencyRecord] = [:]
    private var held: [String: CheckedContinuation<Void, Never>] = [:]
    private var conflicted: Set<String> = []

    struct Delivery: Sendable {
        var eventID: String
        var type: String
        var body: [UInt8]
        var signature: String
    }

    enum IdempotencyRecord: Sendable {
        case inFlight(fingerprint: String)
        case done(fingerprint: String, status: Int, body: JSON, created: Date)
    }

    init(seed: UInt64, webhookVersion: StripeVersion, webhookSecrets: [String]) {
        rng = SeededGenerator(seed: seed)
        self.webhookVersion = webhookVersion
        self.webhookSecrets = webhookSecrets
    }

    // MARK: Ids and time

    func newID(_ prefix: String) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        return prefix + "_" + String((0..<14).map { _ in alphabet[Int(rng.next() % 62)] })
    }

    var now: Int64 { Int64(Date().timeIntervalSince1970) }

    private func remember(_ kind: String, _ id: String) { order[kind, default: []].append(id) }

    func ids(_ kind: String) -> [String] { (order[kind] ?? []).reversed() }

    // MARK: Idempotency

    enum IdempotencyDecision { case proceed, replay(status: Int, body: JSON), mismatch, inFlight }

    func beginIdempotent(key: String, fingerprint: String) -> IdempotencyDecision {
        let dayAgo = Date().addingTimeInterval(-24 * 3600)
        switch idempotency[key] {
        case .inFlight: return .inFlight
        case .done(let stored, let status, let body, let created) where created > dayAgo:
            return stored == fingerprint ? .replay(status: status, body: body) : .mismatch
        default:
            idempotency[key] = .inFlight(fingerprint: fingerprint)
            return .proceed
        }
    }

    /// Returns once a request with `key` has met a conflict (at once unless `holdUntilConflict`),
    /// or when `release(key)` is called.
    func waitForConflict(key: String) async {
        guard holdUntilConflict, !conflicted.contains(key) else { return }
        await withCheckedContinuation { held[key] = $0 }
    }

    /// A request with `key` was refused as in flight: the one holding it goes on. The conflict is
    /// remembered only while the scenario is on.
    func release(_ key: String) {
        if holdUntilConflict { conflicted.insert(key) }
        held.removeValue(forKey: key)?.resume()
    }

    func finishIdempotent(key: String, fingerprint: String, status: Int, body: JSON, store: Bool) {
        idempotency[key] = store ? .done(fingerprint: fingerprint, status: status, body: body, created: Date()) : nil
    }

    // MARK: Resources

    func add(_ c: Customer) { customers[c.id] = c; remember("customer", c.id) }
    func add(_ p: Price) { prices[p.id] = p; remember("price", p.id) }
    func put(_ s: Subscription) { if subscriptions[s.id] == nil { remember("subscription", s.id) }; subscriptions[s.id] = s }
    func put(_ i: Invoice) { if invoices[i.id] == nil { remember("invoice", i.id) }; invoices[i.id] = i }
    func updateCustomer(_ c: Customer) { customers[c.id] = c }

    func nextInvoiceNumber(prefix: String) -> String {
        invoiceNumber += 1
        return "\(prefix)-\(String(format: "%04d", invoiceNumber))"
    }

    /// Records an event (object rendered with the webhook version) and its signed delivery.
    func emit(_ type: String, object: (StripeVersion) -> JSON, previous: JSON? = nil, requestID: String? = nil, idempotencyKey: String? = nil) {
        let event = Event(id: newID("evt"), type: type, created: now, apiVersion: webhookVersion, object: object(webhookVersion),
                          previousAttributes: previous, requestID: requestID, idempotencyKey: idempotencyKey)
        events.append(event)
        remember("event", event.id)
        let body = event.json().encoded()
        deliveries.append(Delivery(eventID: event.id, type: type, body: body,
                                   signature: StripeSignature.header(body: body, timestamp: now, secrets: webhookSecrets)))
    }

    func event(_ id: String) -> Event? { events.first { $0.id == id } }

    func configure(webhookVersion: StripeVersion?, secrets: [String]?, processingDelay: Duration?, holdUntilConflict: Bool?) {
        if let webhookVersion { self.webhookVersion = webhookVersion }
        if let secrets, !secrets.isEmpty { webhookSecrets = secrets }
        if let processingDelay { self.processingDelay = processingDelay }
        if let holdUntilConflict { self.holdUntilConflict = holdUntilConflict }
    }

    func clearDeliveries() { deliveries.removeAll() }
}
