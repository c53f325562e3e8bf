public import CurlHTTP
public import Foundation

/// What the Gmail and Calendar clients share: calls as the connection's user (`ProviderCalls`)
/// with Google's per-user quota spent in its units, and Google's error envelope read into the
/// failures the syncs act on.
public struct GoogleAPI: Sendable {
    public typealias Failure = ProviderFailure

    let calls: ProviderCalls

    /// Gmail's limit per user: 250 quota units a second (its documented figure); Calendar calls spend 1 each.
    public static let perUserQuota = RateLimiter.Limit(burst: 250, perSecond: 250)

    /// - Parameter quota: a limiter with a `google` limit (`perUserQuota`) and the user it spends for.
    public init(http: HTTPClient, quota: (limiter: RateLimiter, user: String)? = nil, token: @escaping @Sendable () async throws -> String) {
        calls = ProviderCalls(http: http, token: token, quota: quota.map { ($0.limiter, "google", $0.user) })
    }

    /// A call whose answer must be a JSON object.
    func json(_ method: String, _ url: String, cost: Double, body: [UInt8]? = nil, retry: RetryPolicy? = .standard) async throws(Failure) -> [String: Any] {
        let response = try await raw(method, url, cost: cost, body: body, retry: retry)
        try Self.check(response)
        guard let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] else {
            throw .unavailable("\(response.status): not a JSON object")
        }
        return json
    }

    /// A call as it came back; `retry: nil` sends once (writes without an idempotency key).
    func raw(_ method: String, _ url: String, cost: Double, body: [UInt8]? = nil, retry: RetryPolicy? = .standard) async throws(Failure) -> HTTPClientResponse {
        try await calls.raw(method, url, cost: cost, body: body, retry: retry)
    }

    /// Google's error body: `{"error": {"code", "message", "errors": [{"reason"}], "status"}}`.
    static func check(_ response: HTTPClientResponse) throws(Failure) {
        guard !(200..<300).contains(response.status) else { return }
        let error = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["error"] as? [String: Any]
        let message = error?["message"] as? String ?? response.bodyText
        let reasons = (error?["errors"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
        switch response.status {
        case 401: throw .unauthorized(message)
        case 429: throw .rateLimited(message)
        case 403 where reasons.contains("rateLimitExceeded") || reasons.contains("userRateLimitExceeded"): throw .rateLimited(message)
        case 403 where reasons.contains("insufficientPermissions"): throw .unauthorized(message)
        case 410 where reasons.contains("fullSyncRequired"): throw .cursorExpired
        case 409: throw .conflict(message)
        case 400, 403: throw .rejected(message)
        default: throw .unavailable("\(response.status) \(message)")
        }
    }
}
