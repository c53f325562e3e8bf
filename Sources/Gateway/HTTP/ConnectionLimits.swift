import HTTPTypes
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Limits on the public HTTP server's connections, so idle or trickling clients cannot hold the
/// gateway's memory and file descriptors.
public struct ConnectionLimits: Sendable {
    /// A keep-alive connection with no request under way is closed after this.
    public var idleTimeout: Duration = .seconds(60)
    /// A request's head must arrive within this of its first byte.
    public var headTimeout: Duration = .seconds(10)
    /// A request's body must arrive within this of its head, extended by a second for every
    /// `minimumBodyRate` bytes received (a large upload at a fair rate goes on; a trickle is cut).
    public var bodyTimeout: Duration = .seconds(10)
    public var minimumBodyRate = 64 * 1024
    /// Connections open at once; one more is answered `503` with `Retry-After` and closed at once.
    public var maximumConnections = 2048

    public init() {}
}

/// Counts the public server's open connections against `ConnectionLimits.maximumConnections`.
final class ConnectionGate: Sendable {
    let maximum: Int
    private let open = Atomic<Int>(0)

    init(maximum: Int) { self.maximum = maximum }

    /// Counts one more connection; false (not counted) when the server is full.
    func admit() -> Bool {
        if open.add(1, ordering: .relaxed).newValue <= maximum { return true }
        open.subtract(1, ordering: .relaxed)
        return false
    }

    func release() { open.subtract(1, ordering: .relaxed) }
}

/// Answers a connection over the cap — `503`, `Retry-After: 1`, close — once it is active, and
/// lets nothing it sends reach the HTTP decoder. (Closing in the child channel's initializer
/// instead stops the server's accepting.)
final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var answered = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let response = ByteBuffer(string: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        let channel = context.channel
        context.writeAndFlush(NIOAny(response)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The gateway's HTTP/1 child channel: Hummingbird's `HTTP1Channel`, with the request deadlines in
/// front of NIO's HTTP decoder (which sees only complete heads).
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let limits: ConnectionLimits
    let gate: ConnectionGate
    let timedOut: Counter
    let refused: Counter

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = gate.admit()
        if admitted {
            channel.closeFuture.whenComplete { [gate] _ in gate.release() }
        } else {
            refused.increment()
        }
        do {
            if !admitted { try channel.pipeline.syncOperations.addHandler(RefusingHandler()) }
            try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits, timedOut: timedOut))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Times each request's head from its first byte and its body from its head. Sits first in the
/// pipeline, on raw bytes; `RequestPhaseHandler` (after the decoder) tells it where a request's
/// head and body end.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Phase {
        /// Between requests (the keep-alive idle timeout is Hummingbird's).
        case idle
        case head
        case body(since: NIODeadline, received: Int)
    }

    private let limits: ConnectionLimits
    private let timedOut: Counter
    private var phase = Phase.idle
    private var timer: Scheduled<Void>?
    /// A context is not used once its handler has left the pipeline.
    private var isRemoved = false

    init(limits: ConnectionLimits, timedOut: Counter) {
        self.limits = limits
        self.timedOut = timedOut
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        isRemoved = true
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytes
        switch phase {
        case .idle:
            phase = .head
            arm(context, at: .now() + TimeAmount(limits.headTimeout))
        case .head:
            break
        case .body(let since, let received):
            phase = .body(since: since, received: received + bytes)
        }
        context.fireChannelRead(data)
    }

    /// The decoder produced the request's head: its body's clock starts.
    func headArrived(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        phase = .body(since: now, received: 0)
        arm(context, at: now + TimeAmount(limits.bodyTimeout))
    }

    /// The request arrived whole: no clock runs until the next one's first byte.
    func requestEnded() {
        phase = .idle
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        timer?.cancel()
        guard !isRemoved, context.channel.isActive else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.expired(context)
        }
    }

    private func expired(_ context: ChannelHandlerContext) {
        timer = nil
        guard !isRemoved else { return }
        if case .body(let since, let received) = phase {
            // The body's deadline grows with what arrived: a second per `minimumBodyRate` bytes.
            let earned = TimeAmount.nanoseconds(Int64(Double(received) / Double(max(1, limits.minimumBodyRate)) * 1e9))
            let deadline = since + TimeAmount(limits.bodyTimeout) + earned
            if deadline > .now() { return arm(context, at: deadline) }
        }
        guard !isIdle else { return }
        timedOut.increment()
        // 408 straight onto the socket (no response can be under way: the request is incomplete), then close.
        let response = ByteBuffer(string: "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        let channel = context.channel
        context.writeAndFlush(NIOAny(response)).whenComplete { _ in channel.close(promise: nil) }
    }

    private var isIdle: Bool { if case .idle = phase { true } else { false } }
}

/// After NIO's HTTP decoder: tells the `RequestDeadlineHandler` of its connection when a request's
/// head has been parsed and when the request has ended.
final class RequestPhaseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private var deadlines: RequestDeadlineHandler?
    private var deadlinesContext: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        deadlinesContext = try? context.pipeline.syncOperations.context(handlerType: RequestDeadlineHandler.self)
        deadlines = deadlinesContext?.handler as? RequestDeadlineHandler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: if let deadlinesContext { deadlines?.headArrived(context: deadlinesContext) }
        case .body: break
        case .end: deadlines?.requestEnded()
        }
        context.fireChannelRead(data)
    }
}
