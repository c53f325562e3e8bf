public import CurlHTTP
public import Foundation

/// A provider API called as a connection's user: a bearer token from the gateway on every call,
/// the provider's per-user quota spent first when it has one, the platform's retry for what may be
/// repeated, and a transport failure — or a limit still in force after the retries — read as the
/// failure the syncs act on. Google's and Microsoft's clients both call through it.
struct ProviderCalls: Sendable {
    let http: HTTPClient
    let token: @Sendable () async throws -> String
    /// The limiter, the provider's name in it, and whose quota a call spends.
    let quota: (limiter: RateLimiter, provider: String, user: String)?

    /// A call as it came back; `retry: nil` sends once (writes without an idempotency key).
    func raw(_ method: String, _ url: String, cost: Double = 1, body: [UInt8]? = nil, headers extra: [HTTPClientRequest.Header] = [],
             retry: RetryPolicy? = .standard) async throws(ProviderFailure) -> HTTPClientResponse {
        if let quota {
            do { try await quota.limiter.acquire(provider: quota.provider, workspace: quota.user, cost: cost) } catch {
                throw .unavailable("cancelled while waiting for \(quota.provider) quota")
            }
        }
        let bearer: String
        do { bearer = try await token() } catch { throw .unauthorized("no access token: \(error)") }
        var headers = [HTTPClientRequest.Header("Authorization", "Bearer \(bearer)")] + extra
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

    /// A query value or path segment, percent-encoded (unreserved characters kept).
    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    /// An RFC 3339 time as the providers write it, with or without fractional seconds.
    static func date(_ text: String) -> Date? {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return ISO8601DateFormatter().date(from: text) ?? fractional.date(from: text)
    }

    /// `2030-05-01T08:00:00Z`: a time for a provider's query or body, in UTC.
    static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
