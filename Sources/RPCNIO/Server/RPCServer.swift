public import Logging
public import NIOCore
public import NIOPosix
public import RPC
public import ServiceLifecycle
import Synchronization
import CoreMetrics

/// Serves one service on one TCP port with protobuf-c-rpc framing. A `Service`: runs until
/// graceful shutdown, then stops accepting, lets in-flight calls finish within the grace period,
/// and returns.
public final class RPCServer: Service, Sendable {
    public let configuration: ServerConfiguration
    private let service: any ServerService
    private let authenticator: any CallAuthenticator
    private let health: HealthStatus
    private let group: any EventLoopGroup
    private let logger: Logger
    private let metrics: ServerMetrics
    private let refused = CoreMetrics.Counter(label: "nexa_rpc_connections_refused_total")
    private let state = Mutex<State>(State())
    private let boundAddress = Mutex<SocketAddress?>(nil)

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    public init(
        service: any ServerService, configuration: ServerConfiguration, authenticator: any CallAuthenticator,
        health: HealthStatus = HealthStatus(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.service = service
        self.configuration = configuration
        self.authenticator = authenticator
        self.health = health
        self.group = group
        self.logger = logger
        metrics = ServerMetrics(service: service.descriptor)
    }

    /// The address the server listens on once running (port 0 resolved).
    public var localAddress: SocketAddress? { boundAddress.withLock { $0 } }

    /// Waits until the server listens (for tests and callers that bind port 0).
    public func waitUntilListening() async throws -> SocketAddress {
        while true {
            if let address = localAddress { return address }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    public func run() async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                // Over the cap: a failed initializer makes NIO close the connection at once.
                guard register(channel) else {
                    refused.increment()
                    logger.debug("refused a connection over the cap", metadata: ["rpc.connections": "\(configuration.maximumConnections)"])
                    return channel.eventLoop.makeFailedFuture(RPCError(.resourceExhausted, "too many connections"))
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls = configuration.tls { try channel.pipeline.syncOperations.addHandler(tls.serverHandler()) }
                    try channel.pipeline.syncOperations.addHandler(ServerConnectionHandler(
                        service: service, authenticator: authenticator, health: health,
                        configuration: configuration, metrics: metrics, logger: logger
                    ))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        boundAddress.withLock { $0 = server.localAddress }
        logger.info(
            "rpc server listening",
            metadata: ["rpc.service": "\(service.descriptor.name)", "net.address": "\(server.localAddress.map { "\($0)" } ?? "?")"]
        )

        // Until shutdown: wait; serve in the background on the event loops.
        try? await gracefulShutdown()
        health.setServing(false)
        try? await server.close()
        await drain()
        logger.info("rpc server stopped", metadata: ["rpc.service": "\(service.descriptor.name)"])
    }

    /// Counts a new connection until it closes; false (not counted) when the server is at its cap.
    private func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = state.withLock { state in
            guard state.channels.count < configuration.maximumConnections else { return false }
            state.channels[id] = channel
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.channels.removeValue(forKey: id) }
        }
        return true
    }

    /// Connections open now.
    public var connectionCount: Int { state.withLock { $0.channels.count } }

    /// Asks every connection to finish its calls and close; forces the rest after the grace period.
    private func drain() async {
        let channels = state.withLock { Array($0.channels.values) }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ServerConnectionHandler.Drain())
        }
        let deadline = ContinuousClock.now.advanced(by: configuration.shutdownGracePeriod)
        while ContinuousClock.now < deadline, state.withLock({ !$0.channels.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let remaining = state.withLock { Array($0.channels.values) }
        if !remaining.isEmpty {
            logger.warning("grace period over: closing connections with calls in flight", metadata: ["rpc.connections": "\(remaining.count)"])
        }
        for channel in remaining { try? await channel.close() }
    }
}
