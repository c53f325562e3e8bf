public import Foundation
public import RPC

extension ServerContext {
    /// The authenticated workspace as a UUID; every query a handler makes is scoped to it.
    public func workspace() throws -> UUID {
        guard let id = UUID(uuidString: try workspaceID()) else { throw RPCError(.unauthenticated, "the key's workspace is not a UUID") }
        return id
    }
}

/// Retry delays: exponential backoff with full jitter (a uniform draw up to the doubled ceiling).
public enum Backoff {
    /// A duration in [0, min(maximum, initial × 2^(attempt−1))]; `attempt` counts from 1.
    public static func fullJitter(attempt: Int, initial: Duration, maximum: Duration) -> Duration {
        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
        let ceiling = min(ms(maximum), ms(initial) * pow(2, Double(max(0, attempt - 1))))
        return .milliseconds(Int64(Double.random(in: 0...max(0, ceiling))))
    }
}
