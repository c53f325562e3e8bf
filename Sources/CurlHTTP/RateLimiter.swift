import Metrics
import Synchronization

/// Token buckets per provider and workspace (e.g. Gmail: 1,000 requests a minute per user's
/// workspace). A caller over the limit waits its turn — first come, first served — rather than
/// being refused: each call reserves the next token, possibly in the future, and sleeps until it.
public final class RateLimiter: Sendable {
    /// A bucket: `burst` tokens at most, refilled at `perSecond`.
    public struct Limit: Sendable, Hashable {
        public var burst: Double
        public var perSecond: Double

        public init(burst: Double, perSecond: Double) {
            precondition(burst >= 1 && perSecond > 0, "a limit needs a burst of at least 1 and a positive rate")
            self.burst = burst
            self.perSecond = perSecond
        }

        /// `count` requests per `period`, with the whole count as burst.
        public static func requests(_ count: Double, per period: Duration) -> Limit {
            Limit(burst: count, perSecond: count / (Double(period.components.seconds) + Double(period.components.attoseconds) / 1e18))
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let limits: [String: Limit]
    private let buckets = Mutex<[String: Bucket]>([:])

    /// - Parameter limits: by provider name; providers without one are not limited.
    public init(limits: [String: Limit]) {
        self.limits = limits
    }

    /// Returns when the caller may send one request costing `cost` units (Gmail prices calls: a
    /// `messages.get` is 5 units of the 250 a user has each second) to `provider` for `workspace`.
    /// - Throws: `CancellationError` if the task is cancelled while waiting (its units are given back).
    public func acquire(provider: String, workspace: String, cost: Double = 1) async throws {
        guard let wait = reserve(provider: provider, workspace: workspace, cost: cost, at: .now), wait > .zero else { return }
        Counter(label: "nexa_http_throttled_total", dimensions: [("provider", provider)]).increment()
        Metrics.Timer(label: "nexa_http_throttle_wait_seconds", dimensions: [("provider", provider)])
            .recordNanoseconds(wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000)
        do {
            try await Task.sleep(for: wait)
        } catch {
            giveBack(provider: provider, workspace: workspace, cost: cost)
            throw error
        }
    }

    /// Takes the next `cost` units of `provider`'s bucket for `workspace` as of `now`; returns how
    /// long the caller must wait for them (zero when they are there), or nil when `provider` has no limit.
    func reserve(provider: String, workspace: String, cost: Double = 1, at now: ContinuousClock.Instant) -> Duration? {
        guard let limit = limits[provider] else { return nil }
        let key = provider + "|" + workspace
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: limit.burst, updated: now)
            let elapsed = bucket.updated.duration(to: now)
            let refill = (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * limit.perSecond
            bucket.tokens = min(limit.burst, bucket.tokens + max(0, refill))
            bucket.updated = max(bucket.updated, now)
            bucket.tokens -= cost  // may go below zero: a reservation in the future, in arrival order
            buckets[key] = bucket
            return bucket.tokens >= 0 ? .zero : .nanoseconds(Int64(-bucket.tokens / limit.perSecond * 1e9))
        }
    }

    /// Returns reserved units that will not be used.
    func giveBack(provider: String, workspace: String, cost: Double = 1) {
        buckets.withLock { $0[provider + "|" + workspace]?.tokens += cost }
    }
}

/// One provider's API as the domain services call it: the rate limiter first, then libcurl with
/// retries, and metrics for every request — count by status class, errors by class, latency.
public struct ProviderClient: Sendable {
    public let provider: String
    public let http: HTTPClient
    public let limiter: RateLimiter
    public var retry: RetryPolicy

    public init(provider: String, http: HTTPClient, limiter: RateLimiter, retry: RetryPolicy = .standard) {
        self.provider = provider
        self.http = http
        self.limiter = limiter
        self.retry = retry
    }

    /// Sends `request` on behalf of `workspace`. Only for requests that are safe to repeat (reads,
    /// or writes with an idempotency key); a final failure is `HTTPClientError.retriesExhausted`,
    /// which callers turn into an `integration_failure` alert.
    public func send(_ request: HTTPClientRequest, workspace: String, timeout: Duration = .seconds(30)) async throws -> HTTPClientResponse {
        try await limiter.acquire(provider: provider, workspace: workspace)
        let started = ContinuousClock.now
        defer {
            let elapsed = started.duration(to: .now)
            Metrics.Timer(label: "nexa_http_request_duration_seconds", dimensions: [("provider", provider)])
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        do {
            let response = try await http.execute(request, timeout: timeout, retry: retry)
            Counter(label: "nexa_http_requests_total", dimensions: [("provider", provider), ("status", "\(response.status / 100)xx")]).increment()
            if response.status >= 400 {
                Counter(label: "nexa_http_errors_total", dimensions: [("provider", provider), ("class", response.status == 429 ? "rate_limited"
                    : response.status >= 500 ? "server" : "client")]).increment()
            }
            return response
        } catch let error as HTTPClientError {
            Counter(label: "nexa_http_requests_total", dimensions: [("provider", provider), ("status", "failed")]).increment()
            Counter(label: "nexa_http_errors_total", dimensions: [("provider", provider), ("class", error.code.name)]).increment()
            throw error
        }
    }
}
