import Platform
import TestSupport
import Testing

/// The cache behind endpoint and key lookups, and the per-address miss budget, on a clock the
/// tests move by hand.
@Suite(.hangGuard) struct BoundedCacheTests {
    let t0 = ContinuousClock.now

    @Test func theLeastRecentlyUsedEntryMakesRoomWhenFull() {
        let cache = BoundedCache<String, Int>(capacity: 3, timeToLive: .seconds(60), negativeTimeToLive: .seconds(5))
        cache.store(1, for: "a", now: t0)
        cache.store(2, for: "b", now: t0)
        cache.store(3, for: "c", now: t0)
        #expect(cache.freshValue(for: "a", now: t0) == .some(1))  // a is now the most recently used
        cache.store(4, for: "d", now: t0)  // b goes
        #expect(cache.freshValue(for: "b", now: t0) == nil)
        #expect(cache.freshValue(for: "a", now: t0) == .some(1))
        #expect(cache.freshValue(for: "c", now: t0) == .some(3))
        #expect(cache.freshValue(for: "d", now: t0) == .some(4))
        #expect(cache.count == 3)
        cache.store(30, for: "c", now: t0)  // replacing keeps the count
        #expect(cache.count == 3 && cache.freshValue(for: "c", now: t0) == .some(30))
        cache.remove("c")
        #expect(cache.count == 2 && cache.freshValue(for: "c", now: t0) == nil)
        cache.store(5, for: "e", now: t0)  // into the freed slot
        #expect(cache.count == 3 && cache.freshValue(for: "e", now: t0) == .some(5) && cache.freshValue(for: "a", now: t0) == .some(1))
    }

    @Test func foundAndNotFoundLiveForTheirOwnTimes() {
        let cache = BoundedCache<String, Int>(capacity: 10, timeToLive: .seconds(60), negativeTimeToLive: .seconds(5))
        cache.store(1, for: "known", now: t0)
        cache.store(nil, for: "unknown", now: t0)
        #expect(cache.freshValue(for: "unknown", now: t0 + .seconds(4)) == .some(nil))
        #expect(cache.freshValue(for: "unknown", now: t0 + .seconds(6)) == nil)
        #expect(cache.freshValue(for: "known", now: t0 + .seconds(59)) == .some(1))
        guard case .expired(let stale) = cache.entry(for: "known", now: t0 + .seconds(61)) else {
            Issue.record("an expired entry is still there, marked expired")
            return
        }
        #expect(stale == 1)
        guard case .missing = cache.entry(for: "never", now: t0) else {
            Issue.record("a key never stored is missing")
            return
        }
    }

    @Test func aHundredThousandDistinctKeysKeepTheCacheAtItsCapacity() {
        let cache = BoundedCache<String, Int>(capacity: 1000, timeToLive: .seconds(60), negativeTimeToLive: .seconds(5))
        for i in 0..<100_000 { cache.store(i % 7 == 0 ? i : nil, for: "id-\(i)", now: t0) }
        #expect(cache.count == 1000)
        #expect(cache.freshValue(for: "id-99996", now: t0) == .some(nil))
        #expect(cache.freshValue(for: "id-99001", now: t0) == .some(99001))
        #expect(cache.freshValue(for: "id-98999", now: t0) == nil)  // evicted
    }

    @Test func aMissBudgetAllowsItsBurstThenItsRatePerAddress() {
        let budget = MissBudget(burst: 3, perSecond: 1)
        #expect((0..<3).allSatisfy { _ in budget.spend(from: "198.51.100.7", now: t0) })
        #expect(!budget.spend(from: "198.51.100.7", now: t0))
        #expect(budget.spend(from: "203.0.113.5", now: t0))  // another address has its own bucket
        #expect(!budget.spend(from: "198.51.100.7", now: t0 + .milliseconds(900)))
        #expect(budget.spend(from: "198.51.100.7", now: t0 + .milliseconds(1100)))
        #expect(!budget.spend(from: "198.51.100.7", now: t0 + .milliseconds(1200)))
        budget.refund(to: "198.51.100.7", now: t0 + .milliseconds(1200))  // a lookup that found its id
        #expect(budget.spend(from: "198.51.100.7", now: t0 + .milliseconds(1200)))
        #expect((0..<3).allSatisfy { _ in budget.spend(from: "198.51.100.7", now: t0 + .seconds(60)) })  // refilled to its burst
        #expect(!budget.spend(from: "198.51.100.7", now: t0 + .seconds(60)))
    }

    @Test func resolveLooksUpWithinTheBudgetAndServesWhatItKnewBeyondIt() async throws {
        let cache = BoundedCache<String, Int>(capacity: 10, timeToLive: .zero, negativeTimeToLive: .zero)
        let budget = MissBudget(burst: 1, perSecond: 0.001)
        struct Down: Error {}
        cache.store(7, for: "known")  // expired at once (TTL zero)
        // A lookup that finds its id, or fails, costs nothing; one that misses spends the only token.
        #expect(try await budget.resolve(cache.entry(for: "known"), source: "a") { 7 } == .some(7))
        await #expect(throws: Down.self) { _ = try await budget.resolve(cache.entry(for: "x"), source: "a") { () async throws -> Int? in throw Down() } }
        #expect(try await budget.resolve(cache.entry(for: "x"), source: "a") { nil } == .some(nil))
        // Spent: no lookup runs; a known value is still served, an unknown id is refused.
        var looked = false
        #expect(try await budget.resolve(cache.entry(for: "known"), source: "a") { looked = true; return 8 } == .some(7))
        #expect(try await budget.resolve(cache.entry(for: "y"), source: "a") { looked = true; return nil } == nil)
        #expect(!looked)
        // Without a source there is no budget; a fresh entry needs no lookup.
        #expect(try await budget.resolve(cache.entry(for: "y"), source: nil) { 9 } == .some(9))
        let fresh = BoundedCache<String, Int>(capacity: 10, timeToLive: .seconds(60), negativeTimeToLive: .seconds(60))
        fresh.store(nil, for: "gone")
        #expect(try await budget.resolve(fresh.entry(for: "gone"), source: "a") { looked = true; return 1 } == .some(nil) && !looked)
    }
}
