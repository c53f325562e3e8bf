public import Foundation
public import RPC

/// A domain service's identity keys, per workspace, as the gateway presents them.
///
/// The gateway calls a service with that service's identity key for the workspace (the only kind
/// of key that reads the service's connections' tokens). A call a user starts (send a mail, check a
/// mailbox) arrives with the user's key instead; the service then asks the gateway to introduce it
/// (`GatewayService.IntroduceService`), and the gateway calls it back with the identity key. Keys
/// are held in memory only — never stored, never logged — so a restart simply asks again.
public final class IdentityKeys: Sendable {
    /// The service's short name (`email_calendar`).
    public let service: String
    private let keys: BoundedCache<UUID, String>

    public init(service: String, capacity: Int = 10_000, timeToLive: Duration = .seconds(3600)) {
        self.service = service
        keys = BoundedCache(capacity: capacity, timeToLive: timeToLive, negativeTimeToLive: .zero)
    }

    /// Keeps the caller's key when it is this service's identity in its workspace.
    public func remember(_ context: ServerContext) {
        guard let principal = context.principal, principal.scopes.contains(APIKeys.tokenScope(for: service)),
              !context.metadata.apiKey.isEmpty, let workspace = UUID(uuidString: principal.workspaceID) else { return }
        keys.store(context.metadata.apiKey, for: workspace)
    }

    /// The identity key for the caller's workspace: the caller's own when it is one, else the
    /// remembered one, else the one `introduce` makes the gateway present (which calls `remember`).
    /// - Throws: `UNAVAILABLE` when the introduction did not bring a key.
    public func key(for context: ServerContext, introduce: () async throws -> Void) async throws -> String {
        remember(context)
        let workspace = try context.workspace()
        if case .some(.some(let key)) = keys.freshValue(for: workspace) { return key }
        try await introduce()
        guard case .some(.some(let key)) = keys.freshValue(for: workspace) else {
            throw RPCError(.unavailable, "the gateway did not present \(service)'s identity for this workspace")
        }
        return key
    }

    /// Drops the workspace's key (the gateway refused it: revoked or rotated).
    public func forget(workspace: UUID) {
        keys.remove(workspace)
    }
}
