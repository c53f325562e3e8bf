public import Foundation
public import Logging
import Metrics
public import Platform

/// What happens to one delivery: find the endpoint, verify, store, answer. Independent of the HTTP
/// server, which only translates requests and replies.
public struct WebhookIngress: Sendable {
    /// The HTTP answer to a delivery.
    public struct Reply: Sendable, Hashable {
        public var status: Int
        public var contentType: String
        public var body: String
    }

    /// Where verified events go: the durable inbox, or nowhere (the benchmark's "database write switched off").
    public enum Sink: Sendable {
        case inbox(WebhookInbox)
        case discard
    }

    private let endpoints: WebhookEndpoints
    /// Lookups of ids the cache does not know, per source address (random ids must not reach the database unbounded).
    private let misses: MissBudget
    private let sink: Sink
    private let verifiers: [WebhookProvider: any WebhookVerifier]
    /// The verifiers that need no task (looked up once, not cast per delivery).
    private let immediateVerifiers: [WebhookProvider: any ImmediateWebhookVerifier]
    private let logger: Logger
    /// `nexa_webhooks_received_total` by provider and result, made once (not per delivery).
    private let received: [WebhookProvider: [WebhookInbox.Stored: Counter]]

    public init(endpoints: WebhookEndpoints, misses: MissBudget = MissBudget(), sink: Sink, verifiers: [WebhookProvider: any WebhookVerifier],
                logger: Logger) {
        self.endpoints = endpoints
        self.misses = misses
        self.sink = sink
        self.verifiers = verifiers
        immediateVerifiers = verifiers.compactMapValues { $0 as? any ImmediateWebhookVerifier }
        self.logger = logger
        received = Dictionary(uniqueKeysWithValues: WebhookProvider.allCases.map { provider in
            (provider, [WebhookInbox.Stored.stored: "stored", .duplicate: "duplicate"].mapValues { result in
                Counter(label: "nexa_webhooks_received_total", dimensions: [("provider", provider.rawValue), ("result", result)])
            })
        })
    }

    /// Handles a delivery to `/webhooks/<provider>/<endpointID>` from `source` (the peer's address)
    /// and calls `reply` once with the answer, from any thread.
    ///
    /// The common case — the endpoint cached, the provider's verifier immediate — runs on the
    /// caller's thread up to the inbox's commit, without a task: at ingest rates a task per
    /// delivery costs more than the delivery's own work. Otherwise a task looks the endpoint up
    /// or fetches the keys first.
    public func receive(provider name: String, endpointID: String, request: WebhookRequest, source: String, now: Date = Date(),
                        reply: @escaping @Sendable (Reply) -> Void) {
        guard let provider = WebhookProvider(rawValue: name) else { return reply(Self.reply(404, "unknown provider \"\(name)\"")) }
        guard let verifier = verifiers[provider] else { return reply(Self.reply(404, "no verifier for \(name)")) }
        let entry = endpoints.cached(id: endpointID)
        if let immediate = immediateVerifiers[provider], case .fresh(let cached) = entry {
            guard let endpoint = Self.usable(cached, for: provider) else { return reply(Self.unknownEndpoint) }
            let verified: Result<WebhookOutcome, WebhookRejection>
            do throws(WebhookRejection) {
                verified = .success(try immediate.verifyNow(request, endpoint: endpoint, now: now))
            } catch {
                verified = .failure(error)
            }
            return finish(request, provider: provider, endpoint: endpoint, verified: verified, reply: reply)
        }
        Task {
            // Past the address's lookups, an endpoint known a moment ago is still served.
            let resolved: WebhookEndpoint??
            do {
                resolved = try await misses.resolve(entry, source: source) { try await endpoints.lookupInDatabase(id: endpointID) }
            } catch {
                logger.error("endpoint lookup failed", metadata: ["error": "\(error)"])
                return reply(Self.reply(503, "temporarily unavailable"))
            }
            guard let endpoint = resolved else {
                Self.limited.increment()
                return reply(Self.tooManyUnknown)
            }
            guard let endpoint = Self.usable(endpoint, for: provider) else { return reply(Self.unknownEndpoint) }
            let verified: Result<WebhookOutcome, WebhookRejection>
            do throws(WebhookRejection) {
                verified = .success(try await verifier.verify(request, endpoint: endpoint, now: now))
            } catch {
                verified = .failure(error)
            }
            finish(request, provider: provider, endpoint: endpoint, verified: verified, reply: reply)
        }
    }

    /// `endpoint` when it exists, belongs to `provider` and is enabled.
    private static func usable(_ endpoint: WebhookEndpoint?, for provider: WebhookProvider) -> WebhookEndpoint? {
        guard let endpoint, endpoint.provider == provider, !endpoint.isDisabled else { return nil }
        return endpoint
    }

    static let unknownEndpoint = reply(404, "unknown webhook endpoint")
    private static let tooManyUnknown = reply(429, "too many deliveries to unknown webhook endpoints from this address; slow down")
    private static let limited = Counter(label: "nexa_webhook_lookups_limited_total")

    /// Answers a verified (or refused) delivery, storing its event first.
    private func finish(_ request: WebhookRequest, provider: WebhookProvider, endpoint: WebhookEndpoint,
                        verified: Result<WebhookOutcome, WebhookRejection>, reply: @escaping @Sendable (Reply) -> Void) {
        let outcome: WebhookOutcome
        switch verified {
        case .success(let verified):
            outcome = verified
        case .failure(let error):
            Counter(label: "nexa_webhooks_rejected_total", dimensions: [("provider", provider.rawValue), ("status", "\(error.status)")]).increment()
            logger.notice("webhook refused", metadata: ["provider": "\(provider.rawValue)", "endpoint": "\(endpoint.id)", "reason": "\(error)"])
            return reply(Self.reply(error.status, error.description))
        }
        switch outcome {
        case .respond(let status, let contentType, let body):
            reply(Reply(status: status, contentType: contentType, body: body))
        case .store(let event, let status):
            guard case .inbox(let inbox) = sink else { return reply(Self.accepted(status)) }
            let kept = Dictionary(uniqueKeysWithValues: provider.keptHeaders.compactMap { name in request.headers[name].map { (name, $0) } })
            let new = WebhookInbox.NewEvent(workspaceID: endpoint.workspaceID, endpointID: endpoint.id, provider: provider, eventID: event.eventID,
                                            eventType: event.eventType, headers: kept, body: request.body)
            inbox.append(new) { [received, logger] result in
                switch result {
                case .success(let stored):
                    received[provider]?[stored]?.increment()
                    reply(Self.accepted(status))
                case .failure(let error):
                    logger.error("webhook not stored", metadata: ["provider": "\(provider.rawValue)", "error": "\(error)"])
                    reply(Self.reply(503, "not stored; retry later"))
                }
            }
        }
    }

    /// The answer to a stored delivery (on every delivery's path: no formatting).
    static func accepted(_ status: Int) -> Reply {
        Reply(status: status, contentType: "application/json", body: #"{"message":"accepted"}"#)
    }

    /// An error's answer, `{"message": …}` written by a JSON encoder (the message may quote input).
    static func reply(_ status: Int, _ message: String) -> Reply {
        let body = (try? JSONEncoder().encode(["message": message])).map { String(decoding: $0, as: UTF8.self) } ?? #"{"message":"refused"}"#
        return Reply(status: status, contentType: "application/json", body: body)
    }
}
