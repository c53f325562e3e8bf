import CRM
import Foundation
public import Logging
public import Messages
import Metrics
import Platform
import Synchronization
public import Postgres
public import RPC

/// Delivers inbox events to their owning domain services over RPC, at least once.
///
/// Woken by `NOTIFY webhook_inbox` with a polling fallback. Each pass leases due rows with
/// `FOR UPDATE SKIP LOCKED`, so several gateway replicas share the work without overlap, and a
/// replica that dies mid-delivery leaves rows that become due again when the lease ends.
/// - A delivered event is marked `delivered`.
/// - A service that is missing (UNIMPLEMENTED) or down (UNAVAILABLE) defers the event without
///   spending an attempt: nothing is lost while a service is down or not built yet.
/// - Any other failure spends an attempt and retries with exponential backoff and full jitter;
///   after `maximumAttempts` the event is dead-lettered and an urgent alert raised.
public final class WebhookDispatcher: Sendable {
    public struct Configuration: Sendable {
        public var maximumAttempts = 8
        public var initialBackoff: Duration = .seconds(2)
        public var maximumBackoff: Duration = .seconds(600)
        /// How long a missing or unreachable service waits before the next try.
        public var deferral: Duration = .seconds(30)
        /// How long a leased row stays invisible to other dispatchers.
        public var lease: Duration = .seconds(60)
        public var batchSize = 32
        public var pollInterval: Duration = .seconds(2)
        public var callTimeout: Duration = .seconds(20)
        public init() {}
    }

    /// Sends one event to a domain service (the RPC client in production, a fake transport in tests).
    public typealias Transport = @Sendable (_ service: String, _ event: GatewayV1.WebhookEvent, _ options: CallOptions) async throws -> Void

    private let db: PostgresClient
    private let credentials: ServiceCredentials
    private let transport: Transport
    private let configuration: Configuration
    private let logger: Logger
    /// Inbox `provider` → owning service short name.
    private let routes: [String: String]
    /// Services that answered UNIMPLEMENTED or UNAVAILABLE, until when their events are not leased.
    private let paused = Mutex<[String: ContinuousClock.Instant]>([:])

    /// - Parameter extraRoutes: sources beyond the webhook providers, e.g. the gateway's own
    ///   connection events (`google` → `email_calendar`).
    public init(db: PostgresClient, credentials: ServiceCredentials, configuration: Configuration = .init(),
                extraRoutes: [String: String] = [:], logger: Logger, transport: @escaping Transport) {
        var routes = Dictionary(uniqueKeysWithValues: WebhookProvider.allCases.map { ($0.rawValue, $0.owningService) })
        routes.merge(extraRoutes) { current, _ in current }
        self.routes = routes
        self.db = db
        self.credentials = credentials
        self.configuration = configuration
        self.logger = logger
        self.transport = transport
    }

    /// A transport over RPC clients, one per domain service (`short name → client`).
    public static func rpcTransport(_ clients: [String: any ClientTransport]) -> Transport {
        let descriptors = [BillingV1.BillingService.descriptor, EmailCalendarV1.EmailCalendarService.descriptor,
                           MarketingV1.MarketingService.descriptor, SupportV1.SupportService.descriptor]
        return { service, event, options in
            guard let descriptor = descriptors.first(where: { $0.shortName == service }),
                  let method = descriptor.methods.first(where: { $0.name == "HandleWebhook" }) else {
                throw RPCError(.unimplemented, "no service \(service) handles webhooks")
            }
            guard let client = clients[service] else { throw RPCError(.unavailable, "no address configured for \(service)") }
            let _: GatewayV1.WebhookAck = try await ClientCall.run(event, method: method, transport: client, options: options)
        }
    }

    /// Runs until cancelled.
    public func run() async {
        await NotifiedLoop.run(db: db, channel: "webhook_inbox", pollInterval: configuration.pollInterval, logger: logger) {
            await self.dispatchDue()
        }
    }

    /// One pass: leases up to `batchSize` due events and delivers them concurrently.
    /// - Returns: how many events it leased.
    @discardableResult
    public func dispatchDue() async -> Int {
        let leased: [PostgresRow]
        let now = ContinuousClock.now
        let waiting = paused.withLock { paused in
            paused = paused.filter { $0.value > now }
            return Set(paused.keys)
        }
        let skipped = PostgresTextArray(routes.filter { waiting.contains($0.value) }.map(\.key).sorted())
        do {
            leased = try await db.query("""
                UPDATE webhook_inbox SET next_attempt_at = now() + \(configuration.lease.seconds) * interval '1 second'
                WHERE id IN (
                  SELECT id FROM webhook_inbox WHERE status = 'pending' AND next_attempt_at <= now() AND provider <> ALL(\(skipped)::text[])
                  ORDER BY next_attempt_at, id LIMIT \(configuration.batchSize) FOR UPDATE SKIP LOCKED)
                RETURNING id, workspace_id, endpoint_id, provider, event_id, event_type, headers::text, body, attempts,
                          (extract(epoch FROM received_at) * 1000)::bigint
                """)
        } catch {
            logger.warning("cannot lease inbox events", metadata: ["error": "\(error)"])
            return 0
        }
        await withTaskGroup(of: Void.self) { group in
            for row in leased {
                group.addTask { await self.deliver(row) }
            }
        }
        return leased.count
    }

    private func deliver(_ row: PostgresRow) async {
        let id: Int64, workspace: UUID, provider: String, attempts: Int
        var event = GatewayV1.WebhookEvent()
        do {
            id = try row.decode(at: 0)
            workspace = try row.decode(at: 1)
            provider = try row.decode(at: 3)
            attempts = try row.decode(at: 8)
            event.inboxID = id
            event.endpointID = try row.decode(at: 2)
            event.provider = provider
            event.eventID = try row.decode(at: 4)
            event.eventType = try row.decode(at: 5)
            let headers = (try? JSONSerialization.jsonObject(with: Data(try row.decode(String.self, at: 6).utf8))) as? [String: String] ?? [:]
            event.headers = headers.sorted { $0.key < $1.key }.map { name, value in
                var header = GatewayV1.WebhookHeader()
                header.name = name
                header.value = value
                return header
            }
            event.body = try row.decode(at: 7)
            event.receivedAtUnixMs = try row.decode(at: 9)
            event.attempt = UInt32(attempts + 1)
        } catch {
            logger.error("unreadable inbox row", metadata: ["error": "\(error)"])
            return
        }
        let service = routes[provider] ?? "unknown"
        let started = ContinuousClock.now
        do {
            let key = try await credentials.apiKey(for: workspace, service: service)
            let options = CallOptions(timeout: configuration.callTimeout, apiKey: key, workspaceID: workspace.uuidString.lowercased(),
                                      requestID: "webhook-\(id)", retryIfWritten: true)
            try await transport(service, event, options)
            try await db.execute("""
                UPDATE webhook_inbox SET status = 'delivered', delivered_at = now(), last_error = NULL, attempts = attempts + 1
                WHERE id = \(id)
                """)
            Metrics.Timer(label: "nexa_webhook_delivery_seconds", dimensions: [("service", service)])
                .recordNanoseconds(started.duration(to: .now).nanosecondsClamped)
            Counter(label: "nexa_webhook_deliveries_total", dimensions: [("service", service), ("result", "delivered")]).increment()
        } catch {
            await failed(id: id, workspace: workspace, event: event, service: service, attempts: attempts, error: error)
        }
    }

    private func failed(id: Int64, workspace: UUID, event: GatewayV1.WebhookEvent, service: String, attempts: Int, error: any Error) async {
        let status = (error as? RPCError)?.code ?? (error as? any RPCErrorConvertible)?.rpcError.code ?? .unknown
        let message = (error as? RPCError)?.message ?? "\(error)"
        do {
            if status == .unimplemented || status == .unavailable {
                // Not the event's fault: wait for the service, spend no attempt, and stop leasing
                // its events until then (one failure stands for all of them).
                let until = ContinuousClock.now.advanced(by: configuration.deferral)
                paused.withLock { $0[service] = until }
                try await db.execute("""
                    UPDATE webhook_inbox SET next_attempt_at = now() + \(configuration.deferral.seconds) * interval '1 second',
                      last_error = \("\(status): \(message)") WHERE id = \(id)
                    """)
                Counter(label: "nexa_webhook_deliveries_total", dimensions: [("service", service), ("result", "deferred")]).increment()
                logger.debug("webhook deferred", metadata: ["inbox_id": "\(id)", "service": "\(service)", "status": "\(status)"])
                return
            }
            let spent = attempts + 1
            if spent >= configuration.maximumAttempts {
                try await db.withTransaction { tx in
                    try await tx.execute("""
                        UPDATE webhook_inbox SET status = 'dead', attempts = \(spent), last_error = \("\(status): \(message)")
                        WHERE id = \(id)
                        """)
                    try await Alerts.raise(NewAlert(
                        kind: .integrationFailure, severity: .urgent,
                        message: "A \(event.provider) webhook (\(event.eventType), \(event.eventID)) could not be processed after \(spent) attempts: \(message)",
                        details: DeadLetter(inboxID: id, provider: event.provider, eventID: event.eventID, eventType: event.eventType)),
                        workspace: workspace, in: tx)
                }
                Counter(label: "nexa_webhook_deliveries_total", dimensions: [("service", service), ("result", "dead")]).increment()
                logger.error("webhook dead-lettered", metadata: ["inbox_id": "\(id)", "service": "\(service)", "error": "\(message)"])
            } else {
                let backoff = Backoff.fullJitter(attempt: spent, initial: configuration.initialBackoff, maximum: configuration.maximumBackoff)
                try await db.execute("""
                    UPDATE webhook_inbox SET attempts = \(spent), last_error = \("\(status): \(message)"),
                      next_attempt_at = now() + \(Double(backoff.milliseconds) / 1000) * interval '1 second' WHERE id = \(id)
                    """)
                Counter(label: "nexa_webhook_deliveries_total", dimensions: [("service", service), ("result", "retry")]).increment()
                logger.notice("webhook delivery failed; will retry", metadata: ["inbox_id": "\(id)", "attempt": "\(spent)", "error": "\(message)"])
            }
        } catch {
            // The lease ends by itself; the event becomes due again.
            logger.warning("cannot record a delivery failure", metadata: ["inbox_id": "\(id)", "error": "\(error)"])
        }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var nanosecondsClamped: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}

/// The details of the alert raised for a dead-lettered webhook.
struct DeadLetter: Encodable, Sendable {
    var inboxID: Int64
    var provider: String
    var eventID: String
    var eventType: String

    enum CodingKeys: String, CodingKey {
        case inboxID = "inbox_id", provider, eventID = "event_id", eventType = "event_type"
    }
}
