public import Foundation
public import Logging
import Metrics

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
    private let sink: Sink
    private let verifiers: [WebhookProvider: any WebhookVerifier]
    private let logger: Logger
    /// `nexa_webhooks_received_total` by provider and result, made once (not per delivery).
    private let received: [WebhookProvider: [WebhookInbox.Stored: Counter]]

    public init(endpoints: WebhookEndpoints, sink: Sink, verifiers: [WebhookProvider: any WebhookVerifier], logger: Logger) {
        self.endpoints = endpoints
        self.sink = sink
        self.verifiers = verifiers
        self.logger = logger
        received = Dictionary(uniqueKeysWithValues: WebhookProvider.allCases.map { provider in
            (provider, [WebhookInbox.Stored.stored: "stored", .duplicate: "duplicate"].mapValues { result in
                Counter(label: "nexa_webhooks_received_total", dimensions: [("provider", provider.rawValue), ("result", result)])
            })
        })
    }

    /// Handles a delivery to `/webhooks/<provider>/<endpointID>`.
    public func receive(provider name: String, endpointID: String, request: WebhookRequest, now: Date = Date()) async -> Reply {
        guard let provider = WebhookProvider(rawValue: name) else { return Self.reply(404, "unknown provider \"\(name)\"") }
        let endpoint: WebhookEndpoint?
        do {
            endpoint = try await endpoints.lookup(id: endpointID)
        } catch {
            logger.error("endpoint lookup failed", metadata: ["error": "\(error)"])
            return Self.reply(503, "temporarily unavailable")
        }
        guard let endpoint, endpoint.provider == provider, !endpoint.isDisabled else {
            return Self.reply(404, "unknown webhook endpoint")
        }
        guard let verifier = verifiers[provider] else { return Self.reply(404, "no verifier for \(name)") }
        let outcome: WebhookOutcome
        do {
            outcome = try await verifier.verify(request, endpoint: endpoint, now: now)
        } catch {
            Counter(label: "nexa_webhooks_rejected_total", dimensions: [("provider", name), ("status", "\(error.status)")]).increment()
            logger.notice("webhook refused", metadata: ["provider": "\(name)", "endpoint": "\(endpointID)", "reason": "\(error)"])
            return Self.reply(error.status, error.description)
        }
        switch outcome {
        case .respond(let status, let contentType, let body):
            return Reply(status: status, contentType: contentType, body: body)
        case .store(let events, let status):
            guard case .inbox(let inbox) = sink else { return Self.accepted(status) }
            let kept = Dictionary(uniqueKeysWithValues: provider.keptHeaders.compactMap { name in request.headers[name].map { (name, $0) } })
            do {
                for event in events {
                    let stored = try await inbox.append(.init(
                        workspaceID: endpoint.workspaceID, endpointID: endpoint.id, provider: provider, eventID: event.eventID,
                        eventType: event.eventType, headers: kept, body: request.body))
                    received[provider]?[stored]?.increment()
                }
            } catch {
                logger.error("webhook not stored", metadata: ["provider": "\(name)", "error": "\(error)"])
                return Self.reply(503, "not stored; retry later")
            }
            return Self.accepted(status)
        }
    }

    /// The answer to a stored delivery (on every delivery's path: no formatting).
    static func accepted(_ status: Int) -> Reply {
        Reply(status: status, contentType: "application/json", body: #"{"message":"accepted"}"#)
    }

    static func reply(_ status: Int, _ message: String) -> Reply {
        Reply(status: status, contentType: "application/json", body: #"{"message":"\#(message.replacingOccurrences(of: "\"", with: "'"))"}"#)
    }
}
