public import CRM
public import Foundation
public import Logging
import Platform
public import Postgres

/// Hands the CRM changes that a domain service acts on with its connections' tokens to that
/// service through the inbox and dispatcher, as the gateway's connection events go: durably, at
/// least once, with the service's identity key for the workspace (which a service serving no call
/// does not hold). Today: meetings made or edited in the CRM, for email & calendar.
///
/// A change leased from the CRM's feed becomes one inbox event (`crm` / `meeting.changed`, the event
/// id naming the change and its version, so a repeat adds nothing) in the transaction that marks
/// the change handled.
public struct CRMChangeRelay: Sendable {
    /// The CRM change kinds relayed, as the inbox events' types, and the service each goes to.
    public static let relayed: [ChangeKind: (eventType: String, service: String)] = [.meetingChanged: ("meeting.changed", "email_calendar")]
    /// The inbox provider of relayed changes.
    public static let provider = "crm"

    let db: PostgresClient
    let logger: Logger
    var pollInterval: Duration = .seconds(5)

    public init(db: PostgresClient, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// Runs until cancelled, woken by `NOTIFY crm_changes`.
    public func run() async {
        await NotifiedLoop.run(db: db, channel: ChangeFeed.channel, pollInterval: pollInterval, logger: logger) { await self.relayDue() }
    }

    /// One pass; returns how many changes it leased.
    @discardableResult
    public func relayDue() async -> Int {
        let changes: [CRMChange]
        do {
            changes = try await db.withConnection { try await ChangeFeed.lease(Set(Self.relayed.keys), for: .seconds(30), in: $0) }
        } catch {
            logger.warning("cannot lease CRM changes", metadata: ["error": "\(error)"])
            return 0
        }
        for change in changes {
            guard let route = Self.relayed[change.kind] else { continue }
            do {
                try await db.withTransaction { tx in
                    let subject = change.subject.uuidString.lowercased()
                    let body = Array(#"{"kind":"\#(change.kind.rawValue)","subject_id":"\#(subject)","version":\#(change.version)}"#.utf8)
                    try await tx.execute("""
                        INSERT INTO webhook_inbox (workspace_id, endpoint_id, provider, event_id, event_type, body)
                        VALUES (\(change.workspace), 'gateway', \(Self.provider), \("\(change.kind.rawValue):\(subject):\(change.id):\(change.version)"),
                                \(route.eventType), \(body))
                        ON CONFLICT (workspace_id, provider, event_id) DO NOTHING
                        """)
                    try await ChangeFeed.complete(change, in: tx)
                }
            } catch {
                logger.warning("cannot relay a CRM change", metadata: ["change": "\(change.id)", "error": "\(error)"])
                try? await db.withConnection { try await ChangeFeed.retry(change, after: .seconds(5), error: "\(error)", in: $0) }
            }
        }
        return changes.count
    }
}
