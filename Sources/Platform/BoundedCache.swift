import Synchronization

/// A thread-safe cache of at most `capacity` entries, for lookups that anyone can ask for (ids in
/// URLs, presented keys): each entry lives for its time to live — a negative one (the key is known
/// not to exist) for its own, usually shorter, time — and when the cache is full the least
/// recently used entry makes room. Memory stays bounded however many distinct keys arrive.
///
/// An expired entry is kept until it is replaced or evicted, and `entry(for:)` still returns it
/// (as not fresh): a caller that may not reach the source right now can serve it instead.
public final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// What the cache holds for a key.
    public enum Entry: Sendable {
        /// The value (nil: known not to exist) within its time to live.
        case fresh(Value?)
        /// The value as it was last looked up; its time to live has passed.
        case expired(Value?)
        /// Nothing.
        case missing
    }

    public let capacity: Int
    public let timeToLive: Duration
    public let negativeTimeToLive: Duration
    private let state: Mutex<Storage>

    /// - Parameters:
    ///   - capacity: entries kept at most (at least 1).
    ///   - timeToLive: how long a found value is fresh.
    ///   - negativeTimeToLive: how long "not found" (nil) is fresh.
    public init(capacity: Int, timeToLive: Duration, negativeTimeToLive: Duration) {
        precondition(capacity >= 1, "a cache holds at least one entry")
        self.capacity = capacity
        self.timeToLive = timeToLive
        self.negativeTimeToLive = negativeTimeToLive
        state = Mutex(Storage(capacity: capacity))
    }

    /// The entry for `key` as of `now`; a hit counts as a use.
    public func entry(for key: Key, now: ContinuousClock.Instant = .now) -> Entry {
        state.withLock { storage in
            guard let slot = storage.index[key] else { return .missing }
            storage.moveToFront(slot)
            let node = storage.nodes[slot]
            return node.expires > now ? .fresh(node.value) : .expired(node.value)
        }
    }

    /// The value for `key` if it is fresh: `.some(nil)` when the key is known not to exist, nil
    /// when it must be looked up.
    public func freshValue(for key: Key, now: ContinuousClock.Instant = .now) -> Value?? {
        if case .fresh(let value) = entry(for: key, now: now) { return .some(value) }
        return nil
    }

    /// Stores `value` (nil: the key does not exist) for `key` as of `now`, evicting the least
    /// recently used entry when the cache is full.
    public func store(_ value: Value?, for key: Key, now: ContinuousClock.Instant = .now) {
        let expires = now.advanced(by: value == nil ? negativeTimeToLive : timeToLive)
        state.withLock { $0.store(Node(key: key, value: value, expires: expires)) }
    }

    /// Forgets `key`.
    public func remove(_ key: Key) {
        state.withLock { $0.remove(key) }
    }

    /// Changes the value for `key` in place (under the cache's lock), storing what `body` leaves
    /// (nil forgets the key): `body` gets the current value, or nil when there is none or it has expired.
    public func update<Result>(_ key: Key, now: ContinuousClock.Instant = .now, _ body: (inout Value?) -> Result) -> Result {
        state.withLock { storage in
            var value: Value?
            if let slot = storage.index[key], storage.nodes[slot].expires > now { value = storage.nodes[slot].value }
            let result = body(&value)
            if let value {
                storage.store(Node(key: key, value: value, expires: now.advanced(by: timeToLive)))
            } else {
                storage.remove(key)
            }
            return result
        }
    }

    /// Entries held now (fresh or not).
    public var count: Int { state.withLock { $0.index.count } }

    private struct Node {
        var key: Key
        var value: Value?
        var expires: ContinuousClock.Instant
        var newer = -1
        var older = -1
    }

    /// A doubly linked list of slots, most recently used first, over one array (no allocation per
    /// entry once full), with an index from key to slot.
    private struct Storage {
        let capacity: Int
        var nodes: [Node] = []
        var index: [Key: Int] = [:]
        var newest = -1
        var oldest = -1
        var free: [Int] = []

        init(capacity: Int) {
            self.capacity = capacity
            index.reserveCapacity(min(capacity, 4096))
        }

        mutating func store(_ node: Node) {
            if let slot = index[node.key] {
                nodes[slot].value = node.value
                nodes[slot].expires = node.expires
                moveToFront(slot)
                return
            }
            if index.count == capacity { remove(nodes[oldest].key) }
            let slot: Int
            if let reused = free.popLast() {
                slot = reused
                nodes[slot] = node
            } else {
                slot = nodes.count
                nodes.append(node)
            }
            index[node.key] = slot
            linkAtFront(slot)
        }

        mutating func remove(_ key: Key) {
            guard let slot = index.removeValue(forKey: key) else { return }
            unlink(slot)
            nodes[slot].value = nil
            free.append(slot)
        }

        mutating func moveToFront(_ slot: Int) {
            guard slot != newest else { return }
            unlink(slot)
            linkAtFront(slot)
        }

        private mutating func linkAtFront(_ slot: Int) {
            nodes[slot].newer = -1
            nodes[slot].older = newest
            if newest >= 0 { nodes[newest].newer = slot }
            newest = slot
            if oldest < 0 { oldest = slot }
        }

        private mutating func unlink(_ slot: Int) {
            let (newer, older) = (nodes[slot].newer, nodes[slot].older)
            if newer >= 0 { nodes[newer].older = older } else { newest = older }
            if older >= 0 { nodes[older].newer = newer } else { oldest = newer }
            nodes[slot].newer = -1
            nodes[slot].older = -1
        }
    }
}
