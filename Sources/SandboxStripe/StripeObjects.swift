import Sandbox

/// Resources as the stand-in stores them; rendered to Stripe's JSON per API version.
struct Customer: Sendable {
    var id: String
    var created: Int64
    var email: String?
    var name: String?
    var phone: String?
    var description: String?
    var metadata: [String: String]
    var invoicePrefix: String

    func json() -> JSON {
        [
            "id": .string(id), "object": "customer", "address": nil, "balance": 0, "created": .int(created),
            "currency": nil, "default_source": nil, "delinquent": false, "description": .optional(description),
            "discount": nil, "email": .optional(email),
            "invoice_prefix": .string(invoicePrefix),
            "invoice_settings": ["custom_fields": nil, "default_payment_method": nil, "footer": nil, "rendering_options": nil],
            "livemode": false, "metadata": .strings(metadata), "name": .optional(name), "next_invoice_sequence": 1,
            "phone": .optional(phone), "preferred_locales": [], "shipping": nil, "tax_exempt": "none", "test_clock": nil,
        ]
    }
}

struct Price: Sendable {
    var id: String
    var created: Int64
    var currency: String
    var unitAmount: Int64
    var product: String
    var interval: String?
    var intervalCount: Int64
    var lookupKey: String?
    var metadata: [String: String]

    func json() -> JSON {
        [
            "id": .string(id), "object": "price", "active": true, "billing_scheme": "per_unit", "created": .int(created),
            "currency": .string(currency), "custom_unit_amount": nil, "livemode": false, "lookup_key": .optional(lookupKey),
            "metadata": .strings(metadata), "nickname": nil, "product": .string(product),
            "recurring": interval.map { ["interval": .string($0), "interval_count": .int(intervalCount), "meter": nil,
                                         "usage_type": "licensed", "trial_period_days": nil] } ?? nil,
            "tax_behavior": "unspecified", "tiers_mode": nil, "transform_quantity": nil,
            "type": interval == nil ? "one_time" : "recurring", "unit_amount": .int(unitAmount),
            "unit_amount_decimal": .string(String(unitAmount)),
        ]
    }
}

struct SubscriptionItem: Sendable {
    var id: String
    var created: Int64
    var price: Price
    var quantity: Int64
}

struct Subscription: Sendable {
    var id: String
    var customer: String
    var created: Int64
    var status: String
    var items: [SubscriptionItem]
    var metadata: [String: String]
    var currentPeriodStart: Int64
    var currentPeriodEnd: Int64
    var cancelAtPeriodEnd: Bool
    var canceledAt: Int64?
    var endedAt: Int64?
    var latestInvoice: String?

    func json(_ version: StripeVersion) -> JSON {
        let basil = version.hasBasilShapes
        let itemData: [JSON] = items.map { item in
            var j: JSON = [
                "id": .string(item.id), "object": "subscription_item", "billing_thresholds": nil, "created": .int(item.created),
                "discounts": [], "metadata": [:], "plan": planJSON(item.price), "price": item.price.json(),
                "quantity": .int(item.quantity), "subscription": .string(id), "tax_rates": [],
            ]
            if basil {
                j["current_period_start"] = .int(currentPeriodStart)
                j["current_period_end"] = .int(currentPeriodEnd)
            }
            return j
        }
        var j: JSON = [
            "id": .string(id), "object": "subscription", "application": nil, "application_fee_percent": nil,
            "automatic_tax": ["disabled_reason": nil, "enabled": false, "liability": nil],
            "billing_cycle_anchor": .int(currentPeriodStart), "billing_cycle_anchor_config": nil,
            "billing_mode": ["flexible": nil, "type": "classic"], "billing_schedules": [],
            "billing_thresholds": nil, "cancel_at": nil, "cancel_at_period_end": .bool(cancelAtPeriodEnd),
            "canceled_at": canceledAt.map { .int($0) } ?? nil,
            "cancellation_details": ["comment": nil, "feedback": nil, "reason": nil],
            "collection_method": "charge_automatically", "created": .int(created),
            "currency": .string(items.first?.price.currency ?? "usd"), "customer": .string(customer), "customer_account": nil,
            "days_until_due": nil, "default_payment_method": nil, "default_source": nil, "default_tax_rates": [],
            "description": nil, "discounts": [], "ended_at": endedAt.map { .int($0) } ?? nil,
            "invoice_settings": ["account_tax_ids": nil, "custom_fields": nil, "description": nil, "footer": nil,
                                 "issuer": ["type": "self"]],
            "items": ["object": "list", "data": .array(itemData), "has_more": false, "total_count": .int(Int64(items.count)),
                      "url": .string("/v1/subscription_items?subscription=\(id)")],
            "latest_invoice": .optional(latestInvoice), "livemode": false, "managed_payments": nil,
            "metadata": .strings(metadata), "next_pending_invoice_item_invoice": nil, "on_behalf_of": nil,
            "pause_collection": nil, "payment_settings": ["payment_method_options": nil, "payment_method_types": nil,
                                                          "save_default_payment_method": "off"],
            "pending_invoice_item_interval": nil, "pending_setup_intent": nil, "pending_update": nil, "schedule": nil,
            "start_date": .int(created), "status": .string(status), "test_clock": nil, "transfer_data": nil,
            "trial_end": nil, "trial_settings": ["end_behavior": ["missing_payment_method": "create_invoice"]], "trial_start": nil,
        ]
        if !basil {
            j["current_period_start"] = .int(currentPeriodStart)
            j["current_period_end"] = .int(currentPeriodEnd)
        }
        return j
    }

    private func planJSON(_ price: Price) -> JSON {
        [
            "id": .string(price.id), "object": "plan", "active": true, "amount": .int(price.unitAmount),
            "amount_decimal": .string(String(price.unitAmount)), "billing_scheme": "per_unit", "created": .int(price.created),
            "currency": .string(price.currency), "interval": .optional(price.interval), "interval_count": .int(price.intervalCount),
            "livemode": false, "metadata": [:], "meter": nil, "nickname": nil, "product": .string(price.product),
            "tiers_mode": nil, "transform_usage": nil, "trial_period_days": nil, "usage_type": "licensed",
        ]
    }

    /// Monthly-normalised recurring amount in minor units, as the CRM computes MRR.
    var monthlyAmount: Int64 {
        items.reduce(0) { sum, item in
            let perInterval = item.price.unitAmount * item.quantity
            switch item.price.interval {
            case "year": return sum + perInterval / (12 * item.price.intervalCount)
            case "week": return sum + perInterval * 52 / (12 * item.price.intervalCount)
            case "day": return sum + perInterval * 365 / (12 * item.price.intervalCount)
            default: return sum + perInterval / max(1, item.price.intervalCount)
            }
        }
    }
}

struct Invoice: Sendable {
    var id: String
    var number: String
    var customer: String
    var customerEmail: String?
    var subscription: String?
    var subscriptionMetadata: [String: String]
    var created: Int64
    var currency: String
    var amountDue: Int64
    var amountPaid: Int64
    var status: String
    var attemptCount: Int64
    var paidAt: Int64?
    var finalizedAt: Int64?
    var nextPaymentAttempt: Int64?
    var billingReason: String
    var periodStart: Int64
    var periodEnd: Int64
    var lines: [(id: String, price: Price, quantity: Int64, subscriptionItem: String)]

    func json(_ version: StripeVersion) -> JSON {
        let basil = version.hasBasilShapes
        let lineData: [JSON] = lines.map { line in
            var j: JSON = [
                "id": .string(line.id), "object": "line_item", "amount": .int(line.price.unitAmount * line.quantity),
                "currency": .string(currency), "description": .string("\(line.quantity) × \(line.price.product)"),
                "discount_amounts": [], "discountable": true, "discounts": [], "invoice": .string(id), "livemode": false,
                "metadata": [:], "period": ["end": .int(periodEnd), "start": .int(periodStart)],
                "pretax_credit_amounts": [], "quantity": .int(line.quantity), "quantity_decimal": .string(String(line.quantity)),
                "subtotal": .int(line.price.unitAmount * line.quantity), "taxes": [],
                "pricing": ["price_details": ["price": .string(line.price.id), "product": .string(line.price.product)],
                            "type": "price_details", "unit_amount_decimal": .string(String(line.price.unitAmount))],
                "subscription": .optional(subscription),
            ]
            j["parent"] = subscription.map { sub in
                ["type": "subscription_item_details", "invoice_item_details": nil,
                 "subscription_item_details": ["invoice_item": nil, "proration": false, "proration_details": ["credited_items": nil],
                                               "subscription": .string(sub), "subscription_item": .string(line.subscriptionItem)]]
            } ?? nil
            return j
        }
        var j: JSON = [
            "id": .string(id), "object": "invoice", "account_country": "US", "account_name": "Nexa Sandbox",
            "account_tax_ids": nil, "amount_due": .int(amountDue), "amount_overpaid": 0, "amount_paid": .int(amountPaid),
            "amount_remaining": .int(amountDue - amountPaid), "amount_shipping": 0, "application": nil,
            "attempt_count": .int(attemptCount), "attempted": .bool(attemptCount > 0), "auto_advance": .bool(status == "open"),
            "automatic_tax": ["disabled_reason": nil, "enabled": false, "liability": nil, "provider": nil, "status": nil],
            "automatically_finalizes_at": nil, "billing_reason": .string(billingReason), "collection_method": "charge_automatically",
            "created": .int(created), "currency": .string(currency), "custom_fields": nil, "customer": .string(customer),
            "customer_account": nil, "customer_address": nil, "customer_email": .optional(customerEmail), "customer_name": nil,
            "customer_phone": nil, "customer_shipping": nil, "customer_tax_exempt": "none", "customer_tax_ids": [],
            "default_payment_method": nil, "default_source": nil, "default_tax_rates": [], "description": nil, "discounts": [],
            "due_date": nil, "effective_at": finalizedAt.map { .int($0) } ?? nil, "ending_balance": 0, "footer": nil,
            "from_invoice": nil, "hosted_invoice_url": .string("https://invoice.stripe.com/i/\(id)"),
            "invoice_pdf": .string("https://pay.stripe.com/invoice/\(id)/pdf"), "issuer": ["type": "self"],
            "last_finalization_error": nil, "latest_revision": nil,
            "lines": ["object": "list", "data": .array(lineData), "has_more": false, "total_count": .int(Int64(lines.count)),
                      "url": .string("/v1/invoices/\(id)/lines")],
            "livemode": false, "metadata": [:], "next_payment_attempt": nextPaymentAttempt.map { .int($0) } ?? nil,
            "number": .string(number), "on_behalf_of": nil,
            "payment_settings": ["default_mandate": nil, "payment_method_options": nil, "payment_method_types": nil],
            "period_end": .int(periodEnd), "period_start": .int(periodStart), "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "receipt_number": nil, "rendering": nil, "shipping_cost": nil,
            "shipping_details": nil, "starting_balance": 0, "statement_descriptor": nil, "status": .string(status),
            "status_transitions": ["finalized_at": finalizedAt.map { .int($0) } ?? nil, "marked_uncollectible_at": nil,
                                   "paid_at": paidAt.map { .int($0) } ?? nil, "voided_at": nil],
            "subtotal": .int(amountDue), "subtotal_excluding_tax": .int(amountDue), "test_clock": nil, "total": .int(amountDue),
            "total_discount_amounts": [], "total_excluding_tax": .int(amountDue), "total_pretax_credit_amounts": [],
            "total_taxes": [], "webhooks_delivered_at": .int(created),
        ]
        if basil {
            // Still present in the current sample objects, always null since basil.
            j["subscription"] = nil
            j["parent"] = subscription.map { sub in
                ["type": "subscription_details", "quote_details": nil,
                 "subscription_details": ["metadata": .strings(subscriptionMetadata), "subscription": .string(sub)]]
            } ?? nil
        } else {
            // Pre-basil fields, removed in 2025-03-31.basil.
            j["subscription"] = .optional(subscription)
            j["paid"] = .bool(status == "paid")
            j["paid_out_of_band"] = false
            j["payment_intent"] = nil
            j["charge"] = nil
            j["subscription_details"] = subscription.map { _ in ["metadata": .strings(subscriptionMetadata)] } ?? nil
        }
        return j
    }
}

/// An event, its object snapshot rendered at creation with the webhook endpoint's version.
struct Event: Sendable {
    var id: String
    var type: String
    var created: Int64
    var apiVersion: StripeVersion
    var object: JSON
    var previousAttributes: JSON?
    var requestID: String?
    var idempotencyKey: String?

    func json() -> JSON {
        var data: JSON = ["object": object]
        if let previousAttributes { data["previous_attributes"] = previousAttributes }
        return [
            "id": .string(id), "object": "event", "api_version": .string(apiVersion.rawValue), "created": .int(created),
            "data": data, "livemode": false, "pending_webhooks": 1, "type": .string(type),
            "request": ["id": .optional(requestID), "idempotency_key": .optional(idempotencyKey)],
        ]
    }
}

extension JSON {
    static func optional(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    static func strings(_ map: [String: String]) -> JSON { .object(map.mapValues { .string($0) }) }
}
