/// The one error type of the store. `message` is safe to show: it never contains SQL or values.
public struct PostgresError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let connectionFailed = Code(name: "connection_failed")
        public static let uniqueViolation = Code(name: "unique_violation")
        public static let foreignKeyViolation = Code(name: "foreign_key_violation")
        public static let notNullViolation = Code(name: "not_null_violation")
        public static let checkViolation = Code(name: "check_violation")
        public static let serializationFailure = Code(name: "serialization_failure")
        public static let deadlockDetected = Code(name: "deadlock_detected")
        public static let queryCanceled = Code(name: "query_canceled")
        public static let invalidValue = Code(name: "invalid_value")
        public static let invalidQuery = Code(name: "invalid_query")
        public static let decoding = Code(name: "decoding")
        public static let server = Code(name: "server_error")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// The five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    /// The constraint the statement violated, when there was one.
    public var constraint: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil, constraint: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.constraint = constraint
    }

    public var description: String {
        "\(code): \(message)" + (sqlState.map { " [\($0)]" } ?? "")
    }

    /// Serialization failures and deadlocks: the transaction may succeed if run again.
    public var isRetryable: Bool { code == .serializationFailure || code == .deadlockDetected }

    static func from(sqlState: String, constraint: String?) -> PostgresError {
        let constraintText = constraint.map { " (\($0))" } ?? ""
        switch sqlState {
        case "23505": return .init(.uniqueViolation, "a record with this key already exists\(constraintText)", sqlState: sqlState, constraint: constraint)
        case "23503": return .init(.foreignKeyViolation, "a referenced record does not exist\(constraintText)", sqlState: sqlState, constraint: constraint)
        case "23502": return .init(.notNullViolation, "a required value is missing\(constraintText)", sqlState: sqlState, constraint: constraint)
        case "23514": return .init(.checkViolation, "a value is out of its allowed range\(constraintText)", sqlState: sqlState, constraint: constraint)
        case "40001": return .init(.serializationFailure, "concurrent update; try again", sqlState: sqlState)
        case "40P01": return .init(.deadlockDetected, "deadlock detected; try again", sqlState: sqlState)
        case "57014": return .init(.queryCanceled, "the statement was cancelled", sqlState: sqlState)
        case _ where sqlState.hasPrefix("08"), "57P01", "57P02", "57P03":
            return .init(.connectionFailed, "the database connection was lost", sqlState: sqlState)
        case _ where sqlState.hasPrefix("22"): return .init(.invalidValue, "a value is not valid for its column", sqlState: sqlState)
        case _ where sqlState.hasPrefix("42"): return .init(.invalidQuery, "the statement is not valid", sqlState: sqlState)
        default: return .init(.server, "the database reported an error", sqlState: sqlState)
        }
    }
}
