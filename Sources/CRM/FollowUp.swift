public import Foundation
public import Postgres

/// A task for a person to do (the CRM's `tasks`): recover a payment, answer an escalation.
public struct FollowUp: Sendable, Hashable {
    public enum Priority: String, Sendable, Hashable {
        case low, normal, urgent
    }

    /// What kind of work it is (`payment_recovery`, …).
    public var kind: String
    public var title: String
    public var priority: Priority
    /// Due this many days from today (the database's date); nil: no due date.
    public var dueInDays: Int?
    public var assignee: UUID?
    public var account: UUID?
    public var contact: UUID?

    public init(kind: String, title: String, priority: Priority = .normal, dueInDays: Int? = nil, assignee: UUID? = nil,
                account: UUID? = nil, contact: UUID? = nil) {
        self.kind = kind
        self.title = title
        self.priority = priority
        self.dueInDays = dueInDays
        self.assignee = assignee
        self.account = account
        self.contact = contact
    }
}

/// Creating tasks.
public enum FollowUps {
    /// Creates `task` in the caller's transaction; returns its id.
    @discardableResult
    public static func create(_ task: FollowUp, workspace: UUID, in db: PostgresConnectionHandle) async throws -> UUID {
        let id = UUID()
        try await db.execute("""
            INSERT INTO tasks (id, workspace_id, kind, title, priority, due_date, assignee_user_id, account_id, contact_id)
            VALUES (\(id), \(workspace), \(task.kind), \(task.title), \(task.priority.rawValue), current_date + \(task.dueInDays)::integer,
                    \(task.assignee), \(task.account), \(task.contact))
            """)
        return id
    }
}
