import Synchronization

/// What the server runtime lends every call: how to authenticate, and what health to report.
public struct ServerEnvironment: Sendable {
    public var authenticator: any CallAuthenticator
    public var health: HealthStatus
    /// Time a call waited in the server before being handled counts against its deadline.
    public var receivedAt: ContinuousClock.Instant
    /// The caller's service identity as its transport proved it (mutual TLS), or nil.
    public var peerIdentity: String?
    /// Told the call's deadline as soon as it is known, so the transport can stop the work then.
    public var deadlineObserver: (@Sendable (ContinuousClock.Instant) -> Void)?
    /// Told when the call's API key was accepted, so the transport can trust its connection more.
    public var authenticationObserver: (@Sendable () -> Void)?

    public init(
        authenticator: any CallAuthenticator, health: HealthStatus, receivedAt: ContinuousClock.Instant, peerIdentity: String? = nil,
        deadlineObserver: (@Sendable (ContinuousClock.Instant) -> Void)? = nil,
        authenticationObserver: (@Sendable () -> Void)? = nil
    ) {
        self.authenticator = authenticator
        self.health = health
        self.receivedAt = receivedAt
        self.peerIdentity = peerIdentity
        self.deadlineObserver = deadlineObserver
        self.authenticationObserver = authenticationObserver
    }

    /// Establishes the context of a call: deadline, then authentication unless the method is public.
    public func prepare(
        _ metadata: CallMetadata, method: MethodDescriptor, service: ServiceDescriptor
    ) async throws -> ServerContext {
        let deadline: ContinuousClock.Instant? =
            metadata.timeoutMilliseconds > 0
            ? receivedAt.advanced(by: .milliseconds(Int64(clamping: metadata.timeoutMilliseconds))) : nil
        if let deadline {
            if deadline <= .now { throw RPCError(.deadlineExceeded, "the deadline passed before the call started") }
            deadlineObserver?(deadline)
        }
        var principal: Principal? = nil
        if !method.isPublic || !metadata.apiKey.isEmpty {
            do {
                principal = try await authenticator.authenticate(metadata, service: service, method: method)
            } catch let error as RPCError where method.isPublic && error.code == .unauthenticated {
                principal = nil
            }
        }
        if principal != nil { authenticationObserver?() }
        principal?.serviceIdentity = peerIdentity
        return ServerContext(method: method, metadata: metadata, principal: principal, deadline: deadline)
    }
}

/// The serving status a service reports through its health method. Thread-safe.
public final class HealthStatus: Sendable {
    private let state: Mutex<Bool>

    public init(serving: Bool = true) { state = Mutex(serving) }

    public var isServing: Bool { state.withLock { $0 } }

    public func setServing(_ serving: Bool) { state.withLock { $0 = serving } }
}
