/// Per-call options of a client.
public struct CallOptions: Sendable {
    /// How long the caller waits; sent to the server as the remaining budget.
    public var timeout: Duration?
    public var apiKey: String?
    public var workspaceID: String?
    public var requestID: String?
    public var traceparent: String?
    /// Retry after the request may have reached the server. Defaults to the method's idempotency.
    public var retryIfWritten: Bool?

    public init(
        timeout: Duration? = .seconds(30), apiKey: String? = nil, workspaceID: String? = nil,
        requestID: String? = nil, traceparent: String? = nil, retryIfWritten: Bool? = nil
    ) {
        self.timeout = timeout
        self.apiKey = apiKey
        self.workspaceID = workspaceID
        self.requestID = requestID
        self.traceparent = traceparent
        self.retryIfWritten = retryIfWritten
    }

    /// Options for calls made while serving `context`: same caller, same remaining deadline.
    public static func propagating(_ context: ServerContext) -> CallOptions {
        let remaining = context.deadline.map { ContinuousClock.now.duration(to: $0) }
        return CallOptions(
            timeout: remaining, apiKey: context.metadata.apiKey, workspaceID: context.metadata.workspaceID,
            requestID: context.metadata.requestID, traceparent: context.metadata.traceparent
        )
    }

    /// Fills the wire metadata that a Nexa client sends (rich errors on).
    public func metadata(merging existing: CallMetadata) -> CallMetadata {
        var m = existing
        if let apiKey { m.apiKey = apiKey }
        if let workspaceID { m.workspaceID = workspaceID }
        if let requestID { m.requestID = requestID }
        if let traceparent { m.traceparent = traceparent }
        if let timeout {
            let ms = max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            m.timeoutMilliseconds = UInt64(ms)
        }
        m.wantsRichErrors = true
        return m
    }
}

/// Carries encoded unary calls to a service. `RPCNIO.RPCClient` is the TCP implementation.
public protocol ClientTransport: Sendable {
    /// Sends one encoded request and returns the encoded response.
    /// - Throws: `RPCError` (the server's status, or a local one such as `DEADLINE_EXCEEDED`).
    func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8]
}

/// A service implementation as the transport sees it: bytes in, bytes or status out.
public protocol ServerService: Sendable {
    var descriptor: ServiceDescriptor { get }
    /// Decodes, authenticates, runs and encodes one call. Never throws: failures are in the result.
    func handle(methodIndex: UInt32, request: [UInt8], environment: ServerEnvironment) async -> ServerResult
}

/// The outcome of one server call.
public struct ServerResult: Sendable {
    public enum Outcome: Sendable {
        case success([UInt8])
        case failure(RPCError)
    }
    public var outcome: Outcome
    /// What the request said of itself, when it could be decoded (for rich errors and logs).
    public var metadata: CallMetadata?
    /// The hidden cause of an `INTERNAL` failure, for the server's log only.
    public var cause: (any Error)?

    public init(_ outcome: Outcome, metadata: CallMetadata?, cause: (any Error)? = nil) {
        self.outcome = outcome
        self.metadata = metadata
        self.cause = cause
    }
}
