import Foundation
import Synchronization

/// Every request a stand-in received, in order, for tests to assert on.
public final class Journal: Sendable {
    /// One received request.
    public struct Entry: Sendable, Hashable, Codable {
        public var sequence: Int
        public var provider: String
        public var method: String
        /// Path below the provider's base URL, with the query string.
        public var target: String
        /// Header names in lower case (HTTP's canonical form).
        public var headers: [String: String]
        public var body: String
        public var status: Int
    }

    private let entries = Mutex<[Entry]>([])
    /// Oldest entries are dropped past this many, so a long-running sandbox stays bounded.
    public let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    func record(provider: String, method: String, target: String, headers: [String: String], body: String, status: Int) {
        entries.withLock { entries in
            let sequence = (entries.last?.sequence ?? 0) + 1
            entries.append(Entry(sequence: sequence, provider: provider, method: method, target: target, headers: headers, body: body, status: status))
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
    }

    /// Entries, optionally of one provider.
    public func entries(provider: String? = nil) -> [Entry] {
        entries.withLock { all in provider.map { p in all.filter { $0.provider == p } } ?? all }
    }

    public func clear() { entries.withLock { $0.removeAll() } }
}
