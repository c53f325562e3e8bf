public import CurlHTTP
public import Foundation

/// What the Gmail and Calendar clients share: calls as the connection's user with a bearer token
/// from the gateway, Google's per-user quota spent in its units, the platform's retry for reads,
/// and Google's error envelope read into the failures the syncs act on.
public struct GoogleAPI: Sendable {
    public typealias Failure = ProviderFailure

    let http: HTTPClient
    let token: @Sendable () async throws -> String
    /// Google's per-user quota, spent in its units, and whose it is.
    let quota: (limiter: RateLimiter, user: String)?

    /// Gmail's limit per user: 250 quota units a second (its documented figure); Calendar calls spend 1 each.
    public static let perUserQuota = RateLimiter.Limit(burst: 250, perSecond: 250)

    /// - Parameter quota: a limiter with a `google` limit (`perUserQuota`) and the user it spends for.
    public init(http: HTTPClient, quota: (limiter: RateLimiter, user: String)? = nil, token: @escaping @Sendable () async throws -> String) {
        self.http = http
        self.quota = quota
        self.token = token
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
        if let quota {
            do { try await quota.limiter.acquire(provider: "google", workspace: quota.user, cost: cost) } catch {
                throw .unavailable("cancelled while waiting for Google quota")
            }
        }
        let bearer: String
        do { bearer = try await token() } catch { throw .unauthorized("no access token: \(error)") }
        var headers = [HTTPClientRequest.Header("Authorization", "Bearer \(bearer)")]
        if body != nil { headers.append(.init("Content-Type", "application/json")) }
        let request = HTTPClientRequest(method: method, url: url, headers: headers, body: body)
        do {
            if let retry { return try await http.execute(request, retry: retry) }
            return try await http.execute(request)
        } catch let error as HTTPClientError where error.lastStatus == 429 {
            throw .rateLimited("\(error)")  // still limited after the platform's retries: back off, resume later
        } catch {
            throw .unavailable("\(error)")
        }
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

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
