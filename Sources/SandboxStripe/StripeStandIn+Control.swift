import Foundation
public import Hummingbird
import HTTPTypes
import NIOCore
import CurlHTTP
public import Sandbox

extension StripeStandIn {
    /// `/_sandbox/stripe/…`: drive billing scenarios and read what webhooks would carry.
    ///
    /// - `POST subscriptions/{id}/pay`: the next invoice is paid (subscription back to `active`).
    /// - `POST subscriptions/{id}/fail`: the next invoice's payment fails (subscription `past_due`).
    /// - `GET deliveries`: every event as its webhook delivery: `body` (exact bytes) and `stripe_signature`.
    /// - `DELETE deliveries`: forget them.
    /// - `POST deliveries/send` (JSON): POST them, signed, to `url`, as Stripe's webhook sender does;
    ///   `event_id` sends one; `duplicate: true` sends each twice; `reverse: true` sends newest first
    ///   (out of order); `stale_seconds: N` signs with a timestamp N seconds old (replay checks).
    ///   Answers each delivery's event id and the receiver's status.
    /// - `POST settings` (JSON): `webhook_api_version`, `webhook_secrets` (several while rolling),
    ///   `processing_delay_ms` (time POSTs spend executing), `hold_until_conflict` (a POST with an
    ///   `Idempotency-Key` executes only once a second request with its key was refused 409, or after 30 s).
    public func addControlRoutes(to group: RouterGroup<SandboxContext>) {
        let api = StripeAPI(store: store)
        group.post("subscriptions/:id/pay") { _, c in try await cycle(api, c.parameters.require("id"), paid: true) }
        group.post("subscriptions/:id/fail") { _, c in try await cycle(api, c.parameters.require("id"), paid: false) }
        group.get("deliveries") { _, _ in
            let deliveries = await store.deliveries
            return Response.json(.array(deliveries.map {
                ["event_id": .string($0.eventID), "type": .string($0.type),
                 "body": .string(String(decoding: $0.body, as: UTF8.self)), "stripe_signature": .string($0.signature)]
            }))
        }
        group.delete("deliveries") { _, _ in
            await store.clearDeliveries()
            return Response(status: .noContent)
        }
        group.post("deliveries/send") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let options = try? JSON.decode(Array(buffer: body)), let url = options["url"].stringValue else {
                return Response.json(["error": "expected {\"url\": …, \"event_id\"?, \"duplicate\"?, \"reverse\"?, \"stale_seconds\"?}"], status: .badRequest)
            }
            var selected = await store.deliveries
            if let id = options["event_id"].stringValue { selected = selected.filter { $0.eventID == id } }
            selected = DeliveryOrder.arrange(selected, options: options)
            let secrets = await store.webhookSecrets
            let timestamp = Int64(Date().timeIntervalSince1970) - (options["stale_seconds"].intValue ?? 0)
            var results: [JSON] = []
            for delivery in selected {
                let signature = StripeSignature.header(body: delivery.body, timestamp: timestamp, secrets: secrets)
                let outcome: JSON
                do {
                    let response = try await webhookSender.execute(
                        .json(url, delivery.body, headers: [.init("Stripe-Signature", signature), .init("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")]),
                        timeout: .seconds(30))
                    outcome = .int(Int64(response.status))
                } catch {
                    outcome = .string("\(error)")
                }
                results.append(["event_id": .string(delivery.eventID), "type": .string(delivery.type), "status": outcome])
            }
            return Response.json(.array(results))
        }
        group.post("settings") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let settings = try? JSON.decode(Array(buffer: body)) else {
                return Response.json(["error": "expected JSON settings"], status: .badRequest)
            }
            await store.configure(
                webhookVersion: settings["webhook_api_version"].stringValue.map(StripeVersion.init),
                secrets: settings["webhook_secrets"].arrayValue?.compactMap(\.stringValue),
                processingDelay: settings["processing_delay_ms"].intValue.map { .milliseconds($0) },
                holdUntilConflict: settings["hold_until_conflict"].boolValue
            )
            return Response(status: .noContent)
        }
    }

    private func cycle(_ api: StripeAPI, _ id: String, paid: Bool) async throws -> Response {
        guard var s = await store.subscriptions[id], s.status != "canceled" else {
            return Response.json(StripeError.missing("subscription", id).json, status: .notFound)
        }
        let customer = await store.customers[s.customer]
        let previousStatus = s.status
        // The cycle rolls the period forward, then bills it.
        s.currentPeriodStart = s.currentPeriodEnd
        s.currentPeriodEnd = StripeAPI.advance(s.currentPeriodStart, interval: s.items[0].price.interval ?? "month",
                                                count: s.items[0].price.intervalCount)
        let invoice = await api.makeInvoice(for: s, customer: customer, reason: "subscription_cycle", paid: paid)
        s.latestInvoice = invoice.id
        s.status = paid ? "active" : "past_due"
        await store.put(s)
        await api.emitInvoiceEvents(invoice, paid: paid)
        let snapshot = s
        var previous: [String: JSON] = ["latest_invoice": .null]
        if previousStatus != s.status { previous["status"] = .string(previousStatus) }
        await store.emit("customer.subscription.updated", object: { snapshot.json($0) }, previous: .object(previous))
        return Response.json(invoice.json(await store.webhookVersion))
    }
}
