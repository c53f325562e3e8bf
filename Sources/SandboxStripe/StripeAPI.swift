import Sandbox

/// The operations behind each Stripe route.
struct StripeAPI: Sendable {
    let store: StripeStore

    // MARK: Customers

    func createCustomer(_ call: StripeCall) async throws -> JSON {
        try call.check(["email", "name", "phone", "description", "metadata", "address", "invoice_settings",
                        "payment_method", "preferred_locales", "tax_exempt", "test_clock"])
        let metadata = try Self.metadata(call)
        let customer = Customer(id: await store.newID("cus"), created: await store.now, email: call.string("email"),
                                name: call.string("name"), phone: call.string("phone"), description: call.string("description"),
                                metadata: metadata, invoicePrefix: String((await store.newID("x")).dropFirst(2).prefix(8)).uppercased())
        await store.add(customer)
        await store.emit("customer.created", object: { _ in customer.json() }, requestID: call.requestID, idempotencyKey: call.idempotencyKey)
        return customer.json()
    }

    func customer(_ id: String) async throws -> JSON {
        guard let c = await store.customers[id] else { throw StripeError.missing("customer", id) }
        return c.json()
    }

    func updateCustomer(_ id: String, _ call: StripeCall) async throws -> JSON {
        try call.check(["email", "name", "phone", "description", "metadata"])
        guard var c = await store.customers[id] else { throw StripeError.missing("customer", id) }
        if let v = call.string("email") { c.email = v.isEmpty ? nil : v }
        if let v = call.string("name") { c.name = v.isEmpty ? nil : v }
        if let v = call.string("phone") { c.phone = v.isEmpty ? nil : v }
        if let v = call.string("description") { c.description = v.isEmpty ? nil : v }
        c.metadata = try Self.metadata(call, merging: c.metadata)
        await store.updateCustomer(c)
        return c.json()
    }

    var customerFilter: @Sendable (JSON, StripeCall) -> Bool {
        { object, call in call.string("email").map { object["email"].stringValue == $0 } ?? true }
    }

    // MARK: Prices

    func createPrice(_ call: StripeCall) async throws -> JSON {
        try call.check(["currency", "unit_amount", "unit_amount_decimal", "product", "product_data", "recurring",
                        "lookup_key", "metadata", "nickname", "active", "tax_behavior"])
        let currency = try call.require("currency").lowercased()
        guard let amount = try call.integer("unit_amount", in: call.string("unit_amount")) else {
            throw StripeError.parameterMissing("unit_amount")
        }
        let product: String
        if let p = call.string("product") {
            product = p
        } else if call.form["product_data"]?["name"]?.string != nil {
            product = await store.newID("prod")
        } else {
            throw StripeError.parameterMissing("product")
        }
        var interval: String? = nil
        var count: Int64 = 1
        if let recurring = call.form["recurring"] {
            guard let i = recurring["interval"]?.string else { throw StripeError.parameterMissing("recurring[interval]") }
            guard ["day", "week", "month", "year"].contains(i) else {
                throw StripeError.invalid("recurring[interval]", "Invalid recurring[interval]: must be one of day, week, month, or year", code: "parameter_invalid")
            }
            interval = i
            count = try call.integer("recurring[interval_count]", in: recurring["interval_count"]?.string) ?? 1
        }
        let price = Price(id: await store.newID("price"), created: await store.now, currency: currency, unitAmount: amount,
                          product: product, interval: interval, intervalCount: count, lookupKey: call.string("lookup_key"),
                          metadata: try Self.metadata(call))
        await store.add(price)
        return price.json()
    }

    func price(_ id: String) async throws -> JSON {
        guard let p = await store.prices[id] else { throw StripeError.missing("price", id) }
        return p.json()
    }

    // MARK: Subscriptions

    func createSubscription(_ call: StripeCall) async throws -> JSON {
        try call.check(["customer", "items", "metadata", "billing_cycle_anchor", "proration_behavior", "payment_behavior",
                        "collection_method", "days_until_due", "trial_period_days", "trial_end", "cancel_at_period_end",
                        "cancel_at", "default_payment_method", "description"])
        let customerID = try call.require("customer")
        guard let customer = await store.customers[customerID] else { throw StripeError.missing("customer", customerID, param: "customer") }
        let entries = call.form["items"]?.list ?? []
        guard !entries.isEmpty else { throw StripeError.parameterMissing("items") }
        guard entries.count <= 20 else { throw StripeError.invalid("items", "You can only have up to 20 items on a subscription.", code: "parameter_invalid") }
        let now = await store.now
        var items: [SubscriptionItem] = []
        for (n, entry) in entries.enumerated() {
            guard let priceID = entry["price"]?.string else { throw StripeError.parameterMissing("items[\(n)][price]") }
            guard let price = await store.prices[priceID] else { throw StripeError.missing("price", priceID, param: "items[\(n)][price]") }
            guard price.interval != nil else {
                throw StripeError.invalid("items[\(n)][price]", "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.", code: "parameter_invalid")
            }
            let quantity = try call.integer("items[\(n)][quantity]", in: entry["quantity"]?.string) ?? 1
            items.append(SubscriptionItem(id: await store.newID("si"), created: now, price: price, quantity: quantity))
        }
        let periodEnd = Self.advance(now, interval: items[0].price.interval!, count: items[0].price.intervalCount)
        var subscription = Subscription(id: await store.newID("sub"), customer: customerID, created: now, status: "active",
                                        items: items, metadata: try Self.metadata(call), currentPeriodStart: now,
                                        currentPeriodEnd: periodEnd, cancelAtPeriodEnd: call.string("cancel_at_period_end") == "true",
                                        canceledAt: nil, endedAt: nil, latestInvoice: nil)
        // The first invoice is paid at once, as with a working default payment method in test mode.
        let invoice = await makeInvoice(for: subscription, customer: customer, reason: "subscription_create", paid: true)
        subscription.latestInvoice = invoice.id
        await store.put(subscription)
        let snapshot = subscription
        await store.emit("customer.subscription.created", object: { snapshot.json($0) }, requestID: call.requestID, idempotencyKey: call.idempotencyKey)
        await emitInvoiceEvents(invoice, paid: true)
        return subscription.json(call.version)
    }

    func subscription(_ id: String, _ call: StripeCall) async throws -> JSON {
        guard let s = await store.subscriptions[id] else { throw StripeError.missing("subscription", id) }
        return s.json(call.version)
    }

    func updateSubscription(_ id: String, _ call: StripeCall) async throws -> JSON {
        try call.check(["metadata", "cancel_at_period_end", "description", "proration_behavior", "items"])
        guard var s = await store.subscriptions[id] else { throw StripeError.missing("subscription", id) }
        var previous: [String: JSON] = [:]
        if let v = call.string("cancel_at_period_end") {
            previous["cancel_at_period_end"] = .bool(s.cancelAtPeriodEnd)
            s.cancelAtPeriodEnd = v == "true"
        }
        if call.form["metadata"] != nil {
            previous["metadata"] = .strings(s.metadata)
            s.metadata = try Self.metadata(call, merging: s.metadata)
        }
        await store.put(s)
        let snapshot = s
        await store.emit("customer.subscription.updated", object: { snapshot.json($0) }, previous: .object(previous),
                         requestID: call.requestID, idempotencyKey: call.idempotencyKey)
        return s.json(call.version)
    }

    func cancelSubscription(_ id: String, _ call: StripeCall) async throws -> JSON {
        guard var s = await store.subscriptions[id] else { throw StripeError.missing("subscription", id) }
        guard s.status != "canceled" else {
            throw StripeError(status: 400, type: "invalid_request_error", code: "resource_missing",
                              message: "No such subscription: '\(id)'", param: "id", isStoredForIdempotency: true)
        }
        let now = await store.now
        s.status = "canceled"
        s.canceledAt = now
        s.endedAt = now
        await store.put(s)
        let snapshot = s
        await store.emit("customer.subscription.deleted", object: { snapshot.json($0) }, requestID: call.requestID)
        return s.json(call.version)
    }

    var subscriptionFilter: @Sendable (JSON, StripeCall) -> Bool {
        { object, call in
            (call.string("customer").map { object["customer"].stringValue == $0 } ?? true)
                && (call.string("status").map { $0 == "all" || object["status"].stringValue == $0 }
                    ?? (object["status"].stringValue != "canceled"))
        }
    }

    // MARK: Invoices and events

    func invoice(_ id: String, _ call: StripeCall) async throws -> JSON {
        guard let i = await store.invoices[id] else { throw StripeError.missing("invoice", id) }
        return i.json(call.version)
    }

    var invoiceFilter: @Sendable (JSON, StripeCall) -> Bool {
        { object, call in
            let subscription = object["parent"]["subscription_details"]["subscription"].stringValue ?? object["subscription"].stringValue
            return (call.string("customer").map { object["customer"].stringValue == $0 } ?? true)
                && (call.string("subscription").map { subscription == $0 } ?? true)
                && (call.string("status").map { object["status"].stringValue == $0 } ?? true)
        }
    }

    func event(_ id: String) async throws -> JSON {
        guard let e = await store.event(id) else { throw StripeError.missing("event", id) }
        return e.json()
    }

    var eventFilter: @Sendable (JSON, StripeCall) -> Bool {
        { object, call in call.string("type").map { object["type"].stringValue == $0 } ?? true }
    }

    /// `{object: "list", url, has_more, data}` with `limit` (1–100, default 10), `starting_after`, `ending_before`.
    func list(_ kind: String, _ call: StripeCall, filter: (@Sendable (JSON, StripeCall) -> Bool)?) async throws -> JSON {
        let limit = try call.integer("limit", in: call.string("limit")) ?? 10
        guard (1...100).contains(limit) else {
            throw StripeError.invalid("limit", "Invalid limit: must be between 1 and 100")
        }
        var all: [JSON] = []
        for id in await store.ids(kind) {
            let object: JSON? = switch kind {
            case "customer": await store.customers[id]?.json()
            case "price": await store.prices[id]?.json()
            case "subscription": await store.subscriptions[id]?.json(call.version)
            case "invoice": await store.invoices[id]?.json(call.version)
            default: await store.event(id)?.json()
            }
            if let object, filter?(object, call) ?? true { all.append(object) }
        }
        var window = all[...]
        if let after = call.string("starting_after") {
            guard let i = all.firstIndex(where: { $0["id"].stringValue == after }) else { throw StripeError.missing(kind, after, param: "starting_after") }
            window = all[(i + 1)...]
        } else if let before = call.string("ending_before") {
            guard let i = all.firstIndex(where: { $0["id"].stringValue == before }) else { throw StripeError.missing(kind, before, param: "ending_before") }
            window = all[max(0, i - Int(limit))..<i]
        }
        let page = Array(window.prefix(Int(limit)))
        let path = kind == "subscription" ? "subscriptions" : kind + "s"
        return ["object": "list", "url": .string("/v1/\(path)"), "has_more": .bool(window.count > page.count), "data": .array(page)]
    }

    // MARK: Billing cycle (used by the control API too)

    func makeInvoice(for s: Subscription, customer: Customer?, reason: String, paid: Bool) async -> Invoice {
        let now = await store.now
        var lines: [(id: String, price: Price, quantity: Int64, subscriptionItem: String)] = []
        for item in s.items { lines.append((await store.newID("il"), item.price, item.quantity, item.id)) }
        let amount = s.items.reduce(Int64(0)) { $0 + $1.price.unitAmount * $1.quantity }
        let invoice = Invoice(id: await store.newID("in"), number: await store.nextInvoiceNumber(prefix: customer?.invoicePrefix ?? "NEXA"),
                              customer: s.customer, customerEmail: customer?.email, subscription: s.id,
                              subscriptionMetadata: s.metadata, created: now, currency: s.items.first?.price.currency ?? "usd",
                              amountDue: amount, amountPaid: paid ? amount : 0, status: paid ? "paid" : "open",
                              attemptCount: 1, paidAt: paid ? now : nil, finalizedAt: now,
                              nextPaymentAttempt: paid ? nil : now + 3 * 24 * 3600, billingReason: reason,
                              periodStart: s.currentPeriodStart, periodEnd: s.currentPeriodEnd, lines: lines)
        await store.put(invoice)
        return invoice
    }

    func emitInvoiceEvents(_ invoice: Invoice, paid: Bool) async {
        var draft = invoice
        draft.status = "draft"
        draft.finalizedAt = nil
        draft.paidAt = nil
        draft.amountPaid = 0
        let created = draft
        await store.emit("invoice.created", object: { created.json($0) })
        var open = invoice
        open.status = "open"
        open.paidAt = nil
        open.amountPaid = 0
        let finalized = open
        await store.emit("invoice.finalized", object: { finalized.json($0) })
        if paid {
            await store.emit("invoice.paid", object: { invoice.json($0) }, previous: ["status": "open"])
            await store.emit("invoice.payment_succeeded", object: { invoice.json($0) }, previous: ["status": "open"])
        } else {
            await store.emit("invoice.payment_failed", object: { invoice.json($0) })
        }
    }

    static func advance(_ t: Int64, interval: String, count: Int64) -> Int64 {
        switch interval {
        case "day": t + 86_400 * count
        case "week": t + 7 * 86_400 * count
        case "year": t + 365 * 86_400 * count
        default: t + 30 * 86_400 * count
        }
    }

    /// `metadata[k]=v` pairs: up to 50 keys ≤ 40 chars, values ≤ 500; `metadata[k]=` removes k,
    /// `metadata=` clears all.
    static func metadata(_ call: StripeCall, merging existing: [String: String] = [:]) throws(StripeError) -> [String: String] {
        guard let value = call.form["metadata"] else { return existing }
        if value.string == "" { return [:] }
        var result = existing
        for (k, v) in value.stringMap {
            guard k.count <= 40 else { throw StripeError.invalid("metadata", "Metadata keys can have at most 40 characters.", code: "parameter_invalid") }
            guard v.count <= 500 else { throw StripeError.invalid("metadata[\(k)]", "Metadata values can have at most 500 characters.", code: "parameter_invalid") }
            result[k] = v.isEmpty ? nil : v
        }
        guard result.count <= 50 else { throw StripeError.invalid("metadata", "You can have at most 50 metadata keys.", code: "parameter_invalid") }
        return result
    }
}
