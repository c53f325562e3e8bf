import Foundation

/// When and how a transfer is tried again: network errors and the given statuses (429, 5xx),
/// with exponential backoff and full jitter, never sooner than a `Retry-After` asks.
public struct RetryPolicy: Sendable, Hashable {
    /// Retries after the first attempt (3 → up to 4 attempts).
    public var maximumRetries: Int = 3
    public var initialBackoff: Duration = .milliseconds(500)
    public var maximumBackoff: Duration = .seconds(30)
    public var retryableStatuses: Set<Int> = [429, 500, 502, 503, 504]
    /// A longer `Retry-After` than this ends the retries at once (the caller decides what next).
    public var maximumRetryAfter: Duration = .seconds(120)

    public init() {}

    /// The policy for provider APIs: 3 retries, 0.5 s doubling to 30 s, full jitter.
    public static let standard = RetryPolicy()

    /// The wait before retry number `retry` (1-based): a uniform draw in [0, min(max, initial·2^(retry-1))].
    func backoff(retry: Int) -> Duration {
        let ceiling = min(maximumBackoff.nanoseconds, initialBackoff.nanoseconds << min(retry - 1, 30))
        return .nanoseconds(Int64.random(in: 0...max(1, ceiling)))
    }

    /// `Retry-After` as seconds or an HTTP date, relative to `now`.
    static func retryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}

extension HTTPClient {
    /// `execute` with retries. Use it only for requests that are safe to repeat: reads, or writes
    /// that carry an idempotency key.
    /// - Returns: the first response whose status is not retryable.
    /// - Throws: `HTTPClientError` with `retriesExhausted` (its message names the last failure), or
    ///   the error of a failure that is not retried (an invalid URL, a cancelled task).
    public func execute(_ request: HTTPClientRequest, timeout: Duration = .seconds(30), retry policy: RetryPolicy) async throws -> HTTPClientResponse {
        var retry = 0
        while true {
            let wait: Duration
            let failure: String
            var status: Int?
            do {
                let response = try await execute(request, timeout: timeout)
                guard policy.retryableStatuses.contains(response.status) else { return response }
                let asked = RetryPolicy.retryAfter(response.header("Retry-After"))
                if let asked, asked > policy.maximumRetryAfter {
                    throw HTTPClientError(.retriesExhausted, "HTTP \(response.status) asking to retry after \(asked), longer than allowed",
                                          lastStatus: response.status)
                }
                failure = "HTTP \(response.status)"
                status = response.status
                wait = max(policy.backoff(retry: retry + 1), asked ?? .zero)
            } catch let error as HTTPClientError where [.couldNotConnect, .timedOut, .transport].contains(error.code) {
                failure = error.description
                wait = policy.backoff(retry: retry + 1)
            }
            retry += 1
            guard retry <= policy.maximumRetries else {
                throw HTTPClientError(.retriesExhausted, "gave up after \(retry) attempts; last: \(failure)", lastStatus: status)
            }
            try await Task.sleep(for: wait)
        }
    }
}
