/// How a client reaches a service and retries.
public struct ClientConfiguration: Sendable {
    /// `host:port` of every replica; calls go round-robin across them.
    public var targets: [(host: String, port: Int)]
    /// Connections kept open to each target.
    public var connectionsPerTarget: Int = 1
    /// Largest response body accepted.
    public var maximumBodySize: Int = 4 * 1024 * 1024
    public var connectTimeout: Duration = .seconds(2)
    /// Attempts per call (1 means no retry).
    public var maximumAttempts: Int = 3
    /// First reconnect delay; doubles up to `maximumBackoff`, with full jitter.
    public var initialBackoff: Duration = .milliseconds(50)
    public var maximumBackoff: Duration = .seconds(5)
    /// Mutual TLS to the targets (this process's certificate, the CA theirs must chain to); nil is plaintext.
    public var tls: MutualTLS?

    public init(targets: [(host: String, port: Int)]) {
        self.targets = targets
    }

    /// Parses `host:port,host:port`.
    public init(parsing list: String) throws {
        var targets: [(host: String, port: Int)] = []
        for item in list.split(separator: ",") {
            let parts = item.filter { !$0.isWhitespace }.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw ClientConfigurationError(item: String(item))
            }
            targets.append((String(parts[0]), port))
        }
        guard !targets.isEmpty else { throw ClientConfigurationError(item: list) }
        self.init(targets: targets)
    }
}

/// A target list that is not `host:port[,host:port…]`.
public struct ClientConfigurationError: Error, CustomStringConvertible {
    public var item: String
    public var description: String { "'\(item)' is not host:port" }
}
