public import Foundation
public import Postgres

/// A kind of alert, and how often it may be raised for one account.
public struct AlertKind: Hashable, Sendable {
    public var name: String
    /// Within this time of an open alert of this kind for the same account, raising another
    /// updates the open one (its count and latest cause) instead of adding one. nil: every
    /// alert stands alone.
    public var debounce: Duration?

    public init(_ name: String, debounce: Duration? = nil) {
        self.name = name
        self.debounce = debounce
    }

    public static let paymentFailed = AlertKind("payment_failed")
    public static let billingFailed = AlertKind("billing_failed")
    public static let integrationFailure = AlertKind("integration_failure")
    public static let reauthRequired = AlertKind("reauth_required")
    /// Support volume: one alert a day an account, however many tickets raise it.
    public static let supportVolume = AlertKind("support_volume", debounce: .seconds(24 * 3600))
}

/// How urgent an alert or a task is.
public enum Severity: String, Sendable, Hashable {
    case info, normal, urgent
}

/// An alert to raise: someone should look at something.
public struct NewAlert: Sendable {
    public var kind: AlertKind
    public var severity: Severity
    public var message: String
    public var account: UUID?
    /// The user to tell (the account's CSM, the connection's owner); nil: the workspace's admins.
    public var recipient: UUID?
    /// Details for the reader and for tools, stored as the alert's `data` (the latest cause's).
    public var details: (any Encodable & Sendable)?

    public init(kind: AlertKind, severity: Severity, message: String, account: UUID? = nil, recipient: UUID? = nil,
                details: (any Encodable & Sendable)? = nil) {
        self.kind = kind
        self.severity = severity
        self.message = message
        self.account = account
        self.recipient = recipient
        self.details = details
    }
}

/// Raising alerts.
public enum Alerts {
    /// What raising an alert did.
    public enum Outcome: Sendable, Hashable {
        /// A new alert.
        case raised(UUID)
        /// An open alert of the same kind and account inside its debounce window now counts one
        /// more occurrence and carries this one's message and details.
        case debounced(UUID, occurrences: Int)

        public var id: UUID {
            switch self {
            case .raised(let id), .debounced(let id, _): id
            }
        }
    }

    /// Raises `alert` in the caller's transaction, debounced as its kind says.
    @discardableResult
    public static func raise(_ alert: NewAlert, workspace: UUID, in db: PostgresConnectionHandle) async throws -> Outcome {
        let data = try alert.details.map { try JSON.encode($0) } ?? "{}"
        if let window = alert.kind.debounce, let account = alert.account {
            // Two transactions raising the same alert at once must not both find none open.
            try await db.execute("""
                SELECT pg_advisory_xact_lock(hashtextextended(\("alert:\(workspace):\(alert.kind.name):\(account)"), 0))
                """)
            if let row = try await db.query("""
                UPDATE alerts SET occurrences = occurrences + 1, last_raised_at = now(), message = \(alert.message),
                  severity = \(alert.severity.rawValue), data = \(data)::jsonb
                WHERE id = (SELECT id FROM alerts WHERE workspace_id = \(workspace) AND account_id = \(account) AND kind = \(alert.kind.name)
                              AND resolved_at IS NULL AND created_at > now() - \(window.inSeconds) * interval '1 second'
                            ORDER BY created_at DESC LIMIT 1)
                RETURNING id, occurrences
                """).first {
                return .debounced(try row.decode(at: 0), occurrences: try row.decode(at: 1))
            }
        }
        let id = UUID()
        try await db.execute("""
            INSERT INTO alerts (id, workspace_id, kind, severity, message, account_id, recipient_user_id, data)
            VALUES (\(id), \(workspace), \(alert.kind.name), \(alert.severity.rawValue), \(alert.message), \(alert.account), \(alert.recipient),
                    \(data)::jsonb)
            """)
        return .raised(id)
    }
}
