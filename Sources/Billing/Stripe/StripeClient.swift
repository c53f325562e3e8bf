public import CurlHTTP
public import Foundation

/// The Stripe calls billing makes, over libcurl: form-encoded, version pinned, every POST with an
/// `Idempotency-Key` derived from our own operation, retried on network errors, 429 and 5xx, paced
/// by the per-workspace rate limiter and counted in the per-provider metrics.
public struct StripeClient: Sendable {
    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// Stripe says the thing does not exist (an unknown price).
        case missing(String)
        /// Stripe refused the request (4xx other than 404/409/429).
        case refused(status: Int, message: String)
        /// Unreachable, or 429/5xx after every retry: try again later.
        case unavailable(String)

        public var description: String {
            switch self {
            case .missing(let m): "Stripe: \(m)"
            case .refused(let status, let message): "Stripe refused (HTTP \(status)): \(message)"
            case .unavailable(let m): "Stripe is unavailable: \(m)"
            }
        }
    }

    public let baseURL: String
    let secretKey: String
    let version: String
    let client: ProviderClient

    /// Stripe's test-mode limit is 25 requests a second (live: 100); stay under it per workspace.
    public static let rateLimit = RateLimiter.Limit(burst: 25, perSecond: 25)

    public init(baseURL: String, secretKey: String, version: String = "2026-10-28.endive", http: HTTPClient, retry: RetryPolicy = .standard,
                limiter: RateLimiter = RateLimiter(limits: ["stripe": StripeClient.rateLimit])) {
        self.baseURL = baseURL
        self.secretKey = secretKey
        self.version = version
        var policy = retry
        policy.retryableStatuses.insert(409)  // idempotency_key_in_use: the first attempt is still running
        client = ProviderClient(provider: "stripe", http: http, limiter: limiter, retry: policy)
    }

    public func price(_ id: String, workspace: String) async throws(Failure) -> StripePrice {
        let object = try await send(HTTPClientRequest(url: "\(baseURL)/v1/prices/\(HTTPClientRequest.formEncode(id))", headers: headers()), workspace: workspace)
        guard let price = StripePrice(object) else { throw .refused(status: 200, message: "unreadable price \(id)") }
        return price
    }

    public func createCustomer(email: String, name: String, metadata: [String: String], idempotencyKey: String, workspace: String) async throws(Failure) -> String {
        var form = [("email", email), ("name", name)]
        form += metadata.sorted { $0.key < $1.key }.map { ("metadata[\($0.key)]", $0.value) }
        let object = try await send(.form("\(baseURL)/v1/customers", form, headers: headers(idempotencyKey: idempotencyKey)), workspace: workspace)
        guard let id = object["id"] as? String else { throw .refused(status: 200, message: "no customer id") }
        return id
    }

    public func createSubscription(
        customer: String, items: [(price: String, quantity: Int)], metadata: [String: String], idempotencyKey: String, workspace: String
    ) async throws(Failure) -> StripeSubscription {
        var form = [("customer", customer)]
        for (i, item) in items.enumerated() {
            form += [("items[\(i)][price]", item.price), ("items[\(i)][quantity]", "\(item.quantity)")]
        }
        form += metadata.sorted { $0.key < $1.key }.map { ("metadata[\($0.key)]", $0.value) }
        let object = try await send(.form("\(baseURL)/v1/subscriptions", form, headers: headers(idempotencyKey: idempotencyKey)), workspace: workspace)
        guard let subscription = StripeSubscription(object) else { throw .refused(status: 200, message: "unreadable subscription") }
        return subscription
    }

    private func headers(idempotencyKey: String? = nil) -> [HTTPClientRequest.Header] {
        var headers = [HTTPClientRequest.Header("Authorization", "Bearer \(secretKey)"), .init("Stripe-Version", version)]
        if let idempotencyKey { headers.append(.init("Idempotency-Key", idempotencyKey)) }
        return headers
    }

    private func send(_ request: HTTPClientRequest, workspace: String) async throws(Failure) -> [String: Any] {
        let response: HTTPClientResponse
        do {
            response = try await client.send(request, workspace: workspace)
        } catch {
            throw .unavailable("\(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        guard response.status == 200 else {
            let message = ((object["error"] as? [String: Any])?["message"] as? String) ?? "HTTP \(response.status)"
            switch response.status {
            case 404: throw .missing(message)
            case 429, 409, 500...: throw .unavailable(message)
            default: throw .refused(status: response.status, message: message)
            }
        }
        return object
    }
}

/// A recurring price, as MRR needs it.
public struct StripePrice: Sendable, Hashable {
    public var id: String
    public var unitAmount: Int
    public var currency: String
    /// `day`, `week`, `month` or `year`; nil for one-time prices.
    public var interval: String?
    public var intervalCount: Int

    init?(_ object: [String: Any]) {
        guard let id = object["id"] as? String else { return nil }
        self.id = id
        unitAmount = (object["unit_amount"] as? NSNumber)?.intValue
            ?? Int((object["unit_amount_decimal"] as? String).flatMap(Double.init) ?? 0)
        currency = object["currency"] as? String ?? "usd"
        let recurring = object["recurring"] as? [String: Any]
        interval = recurring?["interval"] as? String
        intervalCount = (recurring?["interval_count"] as? NSNumber)?.intValue ?? 1
    }

    /// This price's amount per month in minor units, for `quantity` (a month is 1/12 of a year).
    public func monthlyAmount(quantity: Int) -> Int {
        let total = Double(unitAmount * quantity)
        let count = Double(max(1, intervalCount))
        let monthly: Double = switch interval {
        case "day": total * 365 / 12 / count
        case "week": total * 52 / 12 / count
        case "month": total / count
        case "year": total / 12 / count
        default: 0  // one-time prices are not recurring revenue
        }
        return Int(monthly.rounded())
    }
}

/// The subscription fields billing keeps, read from either API shape.
public struct StripeSubscription: Sendable, Hashable {
    public var id: String
    public var customer: String
    public var status: String
    public var items: [(price: StripePrice, quantity: Int)]
    /// Top-level before 2025-03-31.basil; the latest item period end from basil on.
    public var currentPeriodEnd: Date?

    public static func == (a: Self, b: Self) -> Bool {
        a.id == b.id && a.status == b.status && a.currentPeriodEnd == b.currentPeriodEnd && a.mrrCents == b.mrrCents
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    public init?(_ object: [String: Any]) {
        guard let id = object["id"] as? String, object["object"] as? String ?? "subscription" == "subscription" else { return nil }
        self.id = id
        customer = (object["customer"] as? String) ?? ((object["customer"] as? [String: Any])?["id"] as? String) ?? ""
        status = object["status"] as? String ?? "unknown"
        let data = ((object["items"] as? [String: Any])?["data"] as? [[String: Any]]) ?? []
        items = data.compactMap { item in
            guard let price = (item["price"] as? [String: Any]).flatMap(StripePrice.init) else { return nil }
            return (price, (item["quantity"] as? NSNumber)?.intValue ?? 1)
        }
        let top = (object["current_period_end"] as? NSNumber)?.doubleValue
        let perItem = data.compactMap { ($0["current_period_end"] as? NSNumber)?.doubleValue }.max()
        currentPeriodEnd = (top ?? perItem).map { Date(timeIntervalSince1970: $0) }
    }

    /// Monthly recurring revenue in minor units, from the items' prices and quantities.
    public var mrrCents: Int {
        status == "canceled" || status == "incomplete_expired" ? 0 : items.reduce(0) { $0 + $1.price.monthlyAmount(quantity: $1.quantity) }
    }

    public var currency: String? { items.first?.price.currency }
}

/// The invoice fields billing reads, from either API shape.
struct StripeInvoice {
    var id: String
    var customer: String
    var currency: String
    var amountPaid: Int
    var amountDue: Int
    var paidAt: Date?
    var subscription: String?

    init?(_ object: [String: Any]) {
        guard let id = object["id"] as? String else { return nil }
        self.id = id
        customer = (object["customer"] as? String) ?? ((object["customer"] as? [String: Any])?["id"] as? String) ?? ""
        currency = object["currency"] as? String ?? "usd"
        amountPaid = (object["amount_paid"] as? NSNumber)?.intValue ?? 0
        amountDue = (object["amount_due"] as? NSNumber)?.intValue ?? 0
        paidAt = ((object["status_transitions"] as? [String: Any])?["paid_at"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
        func idOf(_ value: Any?) -> String? { (value as? String) ?? ((value as? [String: Any])?["id"] as? String) }
        let parent = (object["parent"] as? [String: Any])?["subscription_details"] as? [String: Any]
        let line = ((object["lines"] as? [String: Any])?["data"] as? [[String: Any]])?.first
        let lineParent = (line?["parent"] as? [String: Any])?["subscription_item_details"] as? [String: Any]
        subscription = idOf(parent?["subscription"]) ?? idOf(object["subscription"]) ?? idOf(lineParent?["subscription"]) ?? idOf(line?["subscription"])
    }
}

/// Minor units to a currency amount: most currencies have two decimals, some none.
enum Currency {
    static let zeroDecimal: Set<String> = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]

    static func units(_ minor: Int, _ currency: String) -> Decimal {
        zeroDecimal.contains(currency.lowercased()) ? Decimal(minor) : Decimal(minor) / 100
    }

    static func format(_ minor: Int, _ currency: String) -> String {
        "\(units(minor, currency)) \(currency.uppercased())"
    }
}
