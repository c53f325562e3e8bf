public import Postgres
public import RPC

/// The one error type of the platform layer. Carries the RPC status it stands for.
public struct PlatformError: Error, Hashable, Sendable, CustomStringConvertible, RPCErrorConvertible {
    public var code: StatusCode
    public var message: String

    public init(_ code: StatusCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
    public var rpcError: RPCError { RPCError(code, message) }
}

extension PostgresError: RPCErrorConvertible {
    /// The one place store errors become RPC statuses. Messages never contain SQL or values.
    public var rpcError: RPCError {
        switch code {
        case .uniqueViolation: RPCError(.alreadyExists, message)
        case .foreignKeyViolation, .checkViolation, .notNullViolation: RPCError(.failedPrecondition, message)
        case .invalidValue: RPCError(.invalidArgument, message)
        case .serializationFailure, .deadlockDetected: RPCError(.aborted, message)
        case .connectionFailed: RPCError(.unavailable, "the database is unavailable")
        case .queryCanceled: RPCError(.deadlineExceeded, message)
        default: RPCError(.internalError, "internal error")
        }
    }
}
