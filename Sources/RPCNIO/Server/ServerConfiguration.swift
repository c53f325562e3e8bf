/// Limits and timeouts of an RPC server. Defaults suit a service on a private network.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Largest request body accepted; a larger frame is refused from its header and the connection closed.
    public var maximumBodySize: Int = 4 * 1024 * 1024
    /// Calls running at once on one connection. At the cap the server stops reading from the
    /// connection (TCP flow control holds the client back) and resumes at half of it; no call is
    /// refused for it. Until a call on the connection has presented a valid API key, the cap is 1:
    /// an unauthenticated peer cannot hold many decoded bodies.
    public var maximumInFlightPerConnection: Int = 256
    /// Connections open at once. One more is closed as soon as it is accepted
    /// (`nexa_rpc_connections_refused_total`).
    public var maximumConnections: Int = 1024
    /// A frame that started arriving must be complete within this time.
    public var partialFrameTimeout: Duration = .seconds(10)
    /// A connection with nothing in flight and nothing received for this long is closed.
    public var idleTimeout: Duration = .seconds(300)
    /// On shutdown, in-flight calls get this long to finish before their connections are closed.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// Mutual TLS on every connection; nil serves plaintext (a mesh that provides mTLS, or a
    /// trusted network, and stock protobuf-c-rpc clients, which have no TLS).
    public var tls: MutualTLS?

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }
}
