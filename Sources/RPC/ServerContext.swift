/// Who is calling, as established by the server's authenticator.
public struct Principal: Hashable, Sendable {
    /// The API key's public id (never its secret).
    public var keyID: String
    public var workspaceID: String
    /// What the key was granted: service names, `*`, and narrower grants such as `tokens:<service>`.
    public var scopes: [String]
    /// The calling service as its transport proved it (mutual TLS certificate), or nil.
    public var serviceIdentity: String?

    public init(keyID: String, workspaceID: String, scopes: [String] = []) {
        self.keyID = keyID
        self.workspaceID = workspaceID
        self.scopes = scopes
    }
}

/// What a handler knows about the call it serves.
public struct ServerContext: Sendable {
    public var method: MethodDescriptor
    public var metadata: CallMetadata
    /// Nil only for public methods called without a key.
    public var principal: Principal?
    /// When the caller stops waiting; handlers should not start work past it.
    public var deadline: ContinuousClock.Instant?

    public init(
        method: MethodDescriptor, metadata: CallMetadata, principal: Principal?,
        deadline: ContinuousClock.Instant?
    ) {
        self.method = method
        self.metadata = metadata
        self.principal = principal
        self.deadline = deadline
    }

    /// The workspace the call is scoped to: the authenticated key's workspace.
    /// - Throws: `UNAUTHENTICATED` for an unauthenticated call.
    public func workspaceID() throws -> String {
        guard let principal else { throw RPCError(.unauthenticated, "this method needs an API key") }
        return principal.workspaceID
    }
}

/// Decides whether a call may proceed. Servers call it before every non-public method.
public protocol CallAuthenticator: Sendable {
    /// - Returns: the principal for a valid key allowed to call `service`.
    /// - Throws: `RPCError` with `UNAUTHENTICATED` (no or bad key) or `PERMISSION_DENIED`.
    func authenticate(_ metadata: CallMetadata, service: ServiceDescriptor, method: MethodDescriptor) async throws
        -> Principal
}
