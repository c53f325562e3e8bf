import Synchronization

/// Failures a test asks a stand-in to inject: per provider, optionally per method and path prefix,
/// for a number of requests.
public final class Faults: Sendable {
    /// One rule.
    public struct Fault: Sendable, Hashable, Codable {
        public var provider: String
        /// `GET`, `POST`… or nil for any.
        public var method: String?
        /// Matches paths below the provider's base URL that start with it; nil for any.
        public var pathPrefix: String?
        /// Answer with this status instead of serving (429, 500, 503…).
        public var status: Int?
        /// `Retry-After` seconds sent with `status`.
        public var retryAfter: Int?
        /// Delay before serving (or failing).
        public var latencyMilliseconds: Int?
        /// Close the connection without answering (after reading the request).
        public var dropConnection: Bool?
        /// How many matching requests it affects; nil for all.
        public var times: Int?

        public init(provider: String, method: String? = nil, pathPrefix: String? = nil, status: Int? = nil,
                    retryAfter: Int? = nil, latencyMilliseconds: Int? = nil, dropConnection: Bool? = nil, times: Int? = nil) {
            self.provider = provider
            self.method = method
            self.pathPrefix = pathPrefix
            self.status = status
            self.retryAfter = retryAfter
            self.latencyMilliseconds = latencyMilliseconds
            self.dropConnection = dropConnection
            self.times = times
        }
    }

    private let rules = Mutex<[Fault]>([])

    public init() {}

    public func add(_ fault: Fault) { rules.withLock { $0.append(fault) } }
    public func clear() { rules.withLock { $0.removeAll() } }
    public var all: [Fault] { rules.withLock { $0 } }

    /// The first rule that matches, consuming one of its `times`.
    func take(provider: String, method: String, path: String) -> Fault? {
        rules.withLock { rules in
            guard let i = rules.firstIndex(where: { r in
                r.provider == provider && (r.method == nil || r.method == method)
                    && (r.pathPrefix == nil || path.hasPrefix(r.pathPrefix!))
            }) else { return nil }
            let fault = rules[i]
            if let times = fault.times {
                if times <= 1 { rules.remove(at: i) } else { rules[i].times = times - 1 }
            }
            return fault
        }
    }
}
