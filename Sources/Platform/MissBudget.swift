/// How many lookups of unknown ids (webhook endpoints, API keys) one source address may cause: a
/// token bucket per address — `burst` at once, refilled at `perSecond` — so that random ids cost
/// the database a bounded number of queries. A lookup spends a token before it runs and gets it
/// back when the id exists, so only misses count. The buckets are a `BoundedCache`: many addresses
/// cannot grow memory either (an evicted address starts again with a full bucket).
public final class MissBudget: Sendable {
    public let burst: Double
    public let perSecond: Double
    private let buckets: BoundedCache<String, Bucket>

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    /// - Parameters:
    ///   - burst: misses an address may cause at once (at least 1).
    ///   - perSecond: misses an address may cause per second after that (more than 0).
    ///   - addresses: addresses remembered at most.
    public init(burst: Double = 100, perSecond: Double = 10, addresses: Int = 10_000) {
        precondition(burst >= 1 && perSecond > 0, "a miss budget needs a burst of at least 1 and a positive rate")
        self.burst = burst
        self.perSecond = perSecond
        // A bucket untouched for burst / perSecond is full again: its entry may expire then.
        let refill = Duration.milliseconds(Int64((burst / perSecond * 1000).rounded(.up)))
        buckets = BoundedCache(capacity: addresses, timeToLive: refill, negativeTimeToLive: .zero)
    }

    /// Takes one token from `source`'s bucket for a lookup about to run; false (nothing taken)
    /// when the bucket is empty and the lookup must not run.
    public func spend(from source: String, now: ContinuousClock.Instant = .now) -> Bool {
        buckets.update(source, now: now) { bucket in
            var current = bucket ?? Bucket(tokens: burst, updated: now)
            let elapsed = current.updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            current.tokens = min(burst, current.tokens + max(0, seconds) * perSecond)
            current.updated = max(current.updated, now)
            let allowed = current.tokens >= 1
            if allowed { current.tokens -= 1 }
            bucket = current
            return allowed
        }
    }

    /// The value behind `entry`, what the cache held for an id `source` asked for: a fresh entry as
    /// it is; otherwise `lookUp`'s answer when `source` (nil: not limited) may spend a lookup — its
    /// token given back when the id exists or the lookup fails; otherwise, once `source` has spent
    /// its lookups, a value known a moment ago (expired). Nil, the outer optional, when nothing may
    /// be said: the caller refuses the request.
    public func resolve<Key: Hashable & Sendable, Value: Sendable>(
        _ entry: BoundedCache<Key, Value>.Entry, source: String?, lookUp: () async throws -> Value?
    ) async throws -> Value?? {
        if case .fresh(let value) = entry { return .some(value) }
        guard let source else { return .some(try await lookUp()) }
        if spend(from: source) {
            let found: Value?
            do {
                found = try await lookUp()
            } catch {
                refund(to: source)
                throw error
            }
            if found != nil { refund(to: source) }
            return .some(found)
        }
        if case .expired(let stale?) = entry { return .some(stale) }
        return nil
    }

    /// Gives back the token of a lookup that found what it looked for.
    public func refund(to source: String, now: ContinuousClock.Instant = .now) {
        buckets.update(source, now: now) { bucket in
            if bucket != nil { bucket!.tokens = min(burst, bucket!.tokens + 1) }
        }
    }
}
