/// A provider API's failure, as the syncs act on it (Google's and Microsoft's errors both map here).
public enum ProviderFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The token is not accepted (401, or a 403 for missing consent): the connection needs the user.
    case unauthorized(String)
    /// 429 (or Google's 403 `rateLimitExceeded` / `userRateLimitExceeded`): back off and resume.
    case rateLimited(String)
    /// Gmail's history 404, Calendar's 410 `fullSyncRequired`, Graph's `SyncStateNotFound`: the
    /// cursor is older than the provider keeps; a full sync is due.
    case cursorExpired
    /// 400, or 403 for another reason than rate: the request itself is wrong; repeating it will not help.
    case rejected(String)
    /// 409: what was created exists already (a client-chosen id).
    case conflict(String)
    /// Anything else the provider answered, or no answer.
    case unavailable(String)

    public var description: String {
        switch self {
        case .unauthorized(let m): "unauthorized: \(m)"
        case .rateLimited(let m): "rate limited: \(m)"
        case .cursorExpired: "the sync cursor expired"
        case .rejected(let m): "rejected: \(m)"
        case .conflict(let m): "conflict: \(m)"
        case .unavailable(let m): "unavailable: \(m)"
        }
    }

    /// The sync status's failure class: auth, quota, cursor_expired or provider_unavailable.
    public var failureClass: String {
        switch self {
        case .unauthorized: "auth"
        case .rateLimited: "quota"
        case .cursorExpired: "cursor_expired"
        case .rejected, .conflict, .unavailable: "provider_unavailable"
        }
    }
}
