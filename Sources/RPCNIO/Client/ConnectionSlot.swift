import NIOCore
import NIOPosix
import Synchronization

/// No connection could be had for a slot; the request was not written.
struct SlotUnavailable: Error, CustomStringConvertible {
    var description: String
    /// When the slot will try to connect again, if it is backing off.
    var retryAfter: NIODeadline? = nil
}

/// One pooled connection to one replica: connects on demand, reconnects after a close, and
/// backs off after failed connects.
final class ConnectionSlot: Sendable {
    let name: String
    private let host: String
    private let port: Int
    private let configuration: ClientConfiguration
    private let group: any EventLoopGroup
    private let state = Mutex<State>(.idle(backoff: nil))

    private enum State {
        case idle(backoff: (until: NIODeadline, delay: Duration)?)
        case connecting(EventLoopFuture<any Channel>)
        case ready(any Channel)
        case closed
    }

    init(host: String, port: Int, configuration: ClientConfiguration, group: any EventLoopGroup) {
        self.host = host
        self.port = port
        self.name = "\(host):\(port)"
        self.configuration = configuration
        self.group = group
    }

    func channel() async throws -> any Channel {
        // Fast path, taken by almost every call: no future, no hop to the event loop.
        let ready: (any Channel)? = state.withLock { state in
            if case .ready(let channel) = state, channel.isActive { return channel }
            return nil
        }
        if let ready { return ready }
        let future: EventLoopFuture<any Channel> = try state.withLock { state in
            switch state {
            case .ready(let channel) where channel.isActive:
                return channel.eventLoop.makeSucceededFuture(channel)
            case .connecting(let future):
                return future
            case .closed:
                throw SlotUnavailable(description: "the client is closed")
            case .idle(let backoff?) where backoff.until > .now():
                throw SlotUnavailable(description: "\(name) is unreachable; retrying after a backoff", retryAfter: backoff.until)
            case .idle, .ready:
                let future = connect(previousDelay: { if case .idle(let b) = state { return b?.delay } else { return nil } }())
                state = .connecting(future)
                return future
            }
        }
        do {
            return try await future.get()
        } catch let error as SlotUnavailable {
            throw error
        } catch {
            throw SlotUnavailable(description: "cannot connect to \(name): \(error)")
        }
    }

    func close() async {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .closed }
            if case .ready(let channel) = state { return channel }
            return nil
        }
        try? await channel?.close()
    }

    private func connect(previousDelay: Duration?) -> EventLoopFuture<any Channel> {
        let maximumBodySize = configuration.maximumBodySize
        let future = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [tls = configuration.tls, host] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try tls.clientHandler(host: host)) }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(ResponseFrameDecoder(maximumBodySize: maximumBodySize))
                    )
                    try channel.pipeline.syncOperations.addHandler(ClientConnectionHandler())
                }
            }
            .connect(host: host, port: port)
        future.whenComplete { [self] result in
            state.withLock { state in
                guard case .connecting = state else { return }
                switch result {
                case .success(let channel):
                    state = .ready(channel)
                case .failure:
                    let delay = min((previousDelay ?? configuration.initialBackoff / 2) * 2, configuration.maximumBackoff)
                    let jittered = Duration.nanoseconds(Int64.random(in: 0...max(1, delay.nanoseconds)))
                    state = .idle(backoff: (NIODeadline.now() + TimeAmount(jittered), delay))
                }
            }
            if case .success(let channel) = result {
                channel.closeFuture.whenComplete { [self] _ in
                    state.withLock { state in
                        if case .ready(let current) = state, current === channel { state = .idle(backoff: nil) }
                    }
                }
            }
        }
        return future
    }
}
