/// The one error type of an RPC: a status code and a message a user may read.
///
/// Handlers throw it to choose the status; any other error a handler throws becomes `INTERNAL`
/// with a generic message, so that no SQL, token or payload leaks to a caller.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: StatusCode
    public var message: String

    public init(_ code: StatusCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

extension RPCError {
    /// Converts any error into an `RPCError`, hiding the details of errors that are not one.
    public init(converting error: any Error) {
        switch error {
        case let error as RPCError:
            self = error
        case let error as any RPCErrorConvertible:
            self = error.rpcError
        case is CancellationError:
            self.init(.cancelled, "the call was cancelled")
        default:
            self.init(.internalError, "internal error")
        }
    }
}

/// An error that knows which RPC status it stands for (store and domain errors conform).
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}
