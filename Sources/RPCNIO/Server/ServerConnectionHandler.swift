import Logging
import Messages
import NIOCore
import RPC

/// Serves one connection: decodes frames, runs each call in its own task, answers in completion
/// order, and enforces deadlines, partial-frame and idle timeouts.
///
/// Backpressure, not refusal: at `maximumInFlightPerConnection` calls, or while the peer does not
/// read its answers (the channel is not writable), the handler stops asking the socket for more
/// bytes, so TCP's own flow control slows the client. Frames already decoded from the last read
/// wait in order; reading resumes once they have started and the calls in flight fell to half the
/// cap. A fast client is never answered with an error for being fast.
///
/// Lives on its channel's event loop; not `Sendable` (tasks reach it through `NIOLoopBound`).
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Asks the connection to finish its in-flight calls, then close.
    struct Drain: Sendable {}

    private struct Call {
        var frame: (methodIndex: UInt32, requestID: UInt32)
        var task: Task<Void, Never>?
        var deadlineTimer: Scheduled<Void>?
        var startedAt: ContinuousClock.Instant
    }

    private let service: any ServerService
    private let authenticator: any CallAuthenticator
    private let health: HealthStatus
    private let configuration: ServerConfiguration
    private let metrics: ServerMetrics
    private let logger: Logger
    private var processor: NIOSingleStepByteToMessageProcessor<RequestFrameDecoder>
    private var calls: [UInt64: Call] = [:]
    /// Frames decoded while the connection was at its cap: started, in order, as calls finish.
    private var waiting = CircularBuffer<RequestFrame>()
    /// A read the pipeline asked for and this handler held back.
    private var readHeld = false
    private var nextCallID: UInt64 = 0
    /// Whether a call on this connection has presented a valid API key; until then one call at a time.
    private var authenticated = false
    private var maximumInFlight: Int { authenticated ? configuration.maximumInFlightPerConnection : 1 }
    /// The peer certificate's identity (mutual TLS), read once the first frame has arrived.
    private var peerIdentity: String??
    private var lastReadAt = NIODeadline.now()
    /// When the first byte of the frame still incomplete arrived.
    private var partialFrameSince: NIODeadline?
    private var draining = false
    private var flushPending = false
    private var timeoutCheck: RepeatedTask?
    private var context: ChannelHandlerContext?
    private var executor: EventLoopExecutor?

    init(
        service: any ServerService, authenticator: any CallAuthenticator, health: HealthStatus,
        configuration: ServerConfiguration, metrics: ServerMetrics, logger: Logger
    ) {
        self.service = service
        self.authenticator = authenticator
        self.health = health
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        processor = NIOSingleStepByteToMessageProcessor(
            RequestFrameDecoder(maximumBodySize: configuration.maximumBodySize)
        )
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        executor = EventLoopExecutor(context.eventLoop)
        let interval = TimeAmount(min(configuration.partialFrameTimeout, configuration.idleTimeout) / 4)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeoutCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.checkTimeouts()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeoutCheck?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastReadAt = .now()
        var decoded = false
        defer {
            // A frame is timed from its first byte: a peer sending a byte every few seconds
            // does not keep a partial frame alive.
            if processor.unprocessedBytes == 0 {
                partialFrameSince = nil
            } else if decoded || partialFrameSince == nil {
                partialFrameSince = lastReadAt
            }
        }
        do {
            try processor.process(buffer: unwrapInboundIn(data)) { frame in
                decoded = true
                if draining || (waiting.isEmpty && calls.count < maximumInFlight) {
                    start(frame, context: context)
                } else {
                    waiting.append(frame)
                }
            }
        } catch let FrameError.frameTooLarge(method, id, length, limit) {
            logger.debug("refused oversized frame", metadata: ["rpc.body_bytes": "\(length)", "rpc.limit": "\(limit)"])
            respond(
                methodIndex: method, requestID: id,
                error: RPCError(.resourceExhausted, "request body of \(length) bytes exceeds the limit of \(limit)"),
                metadata: nil, context: context
            )
            context.flush()
            context.close(promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The caller is gone: stop the work, drop the replies.
        for (_, call) in calls {
            call.task?.cancel()
            call.deadlineTimer?.cancel()
        }
        calls.removeAll()
        waiting.removeAll()
        context.fireChannelInactive()
    }

    // MARK: Backpressure

    func read(context: ChannelHandlerContext) {
        if mustHoldReads(context: context) {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            startWaiting(context: context)
            resumeReadingIfBelowLowWater(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    private func mustHoldReads(context: ChannelHandlerContext) -> Bool {
        !waiting.isEmpty || calls.count >= maximumInFlight || !context.channel.isWritable
    }

    /// Starts waiting frames while there is room and the peer reads its answers.
    private func startWaiting(context: ChannelHandlerContext) {
        while !waiting.isEmpty, calls.count < maximumInFlight, context.channel.isWritable {
            start(waiting.removeFirst(), context: context)
        }
    }

    private func resumeReadingIfBelowLowWater(context: ChannelHandlerContext) {
        guard readHeld, waiting.isEmpty, calls.count <= maximumInFlight / 2,
              context.channel.isWritable
        else { return }
        readHeld = false
        lastReadAt = .now()  // the pause was the server's, not a stalled peer's
        if partialFrameSince != nil { partialFrameSince = lastReadAt }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Drain {
            draining = true
            while let frame = waiting.popFirst() { start(frame, context: context) }  // each answered UNAVAILABLE
            context.flush()
            closeIfDrained(context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: Calls

    private func start(_ frame: RequestFrame, context: ChannelHandlerContext) {
        guard !draining else {
            respond(
                methodIndex: frame.methodIndex, requestID: frame.requestID,
                error: RPCError(.unavailable, "the server is shutting down"), metadata: nil, context: context
            )
            return
        }
        nextCallID &+= 1
        let callID = nextCallID
        let now = ContinuousClock.now
        calls[callID] = Call(frame: (frame.methodIndex, frame.requestID), task: nil, deadlineTimer: nil, startedAt: now)

        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        var authenticationObserver: (@Sendable () -> Void)?
        if !authenticated {
            authenticationObserver = { loop.execute { bound.value.becameAuthenticated() } }
        }
        if configuration.tls != nil, peerIdentity == nil { peerIdentity = .some(MutualTLS.peerIdentity(on: context.channel)) }
        let environment = ServerEnvironment(
            authenticator: authenticator, health: health, receivedAt: now, peerIdentity: peerIdentity ?? nil,
            deadlineObserver: { deadline in
                loop.execute { bound.value.armDeadline(deadline, for: callID) }
            },
            authenticationObserver: authenticationObserver
        )
        let service = self.service
        let request = Array(buffer: frame.body)
        let methodIndex = frame.methodIndex
        calls[callID]?.task = Task(executorPreference: executor) {
            let result = await service.handle(methodIndex: methodIndex, request: request, environment: environment)
            // Usually still on the loop (the task runs there): answer now, so a whole read batch
            // shares one flush.
            if loop.inEventLoop {
                bound.value.finish(callID, result: result)
            } else {
                loop.execute { bound.value.finish(callID, result: result) }
            }
        }
    }

    /// The first valid API key on this connection: the full in-flight cap from now on.
    private func becameAuthenticated() {
        guard !authenticated, let context else { return }
        authenticated = true
        startWaiting(context: context)
        resumeReadingIfBelowLowWater(context: context)
    }

    private func armDeadline(_ deadline: ContinuousClock.Instant, for callID: UInt64) {
        guard let context, calls[callID] != nil else { return }
        let delay = ContinuousClock.now.duration(to: deadline)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        calls[callID]?.deadlineTimer = context.eventLoop.scheduleTask(in: TimeAmount(delay)) {
            bound.value.expire(callID)
        }
    }

    private func expire(_ callID: UInt64) {
        guard let context, let call = calls.removeValue(forKey: callID) else { return }
        call.task?.cancel()
        let error = RPCError(.deadlineExceeded, "the deadline passed while the server was working")
        metrics.record(method: call.frame.methodIndex, code: error.code, duration: call.startedAt.duration(to: .now))
        respond(methodIndex: call.frame.methodIndex, requestID: call.frame.requestID, error: error, metadata: nil, context: context)
        callEnded(context: context)
    }

    private func finish(_ callID: UInt64, result: ServerResult) {
        guard let context, let call = calls.removeValue(forKey: callID) else { return }
        call.deadlineTimer?.cancel()
        let duration = call.startedAt.duration(to: .now)
        switch result.outcome {
        case .success(let body):
            var buffer = context.channel.allocator.buffer(capacity: ResponseFrame.headerSize + body.count)
            buffer.writeMultipleIntegers(
                StatusWord.success, call.frame.methodIndex, UInt32(body.count), call.frame.requestID,
                endianness: .little
            )
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(buffer), promise: nil)
            metrics.record(method: call.frame.methodIndex, code: .ok, duration: duration)
            log(call, code: .ok, duration: duration, result: result)
        case .failure(let error):
            respond(
                methodIndex: call.frame.methodIndex, requestID: call.frame.requestID, error: error,
                metadata: result.metadata, context: context
            )
            metrics.record(method: call.frame.methodIndex, code: error.code, duration: duration)
            log(call, code: error.code, duration: duration, result: result)
        }
        callEnded(context: context)
    }

    /// After an answer was written: flush soon, make room for waiting frames, maybe read again.
    private func callEnded(context: ChannelHandlerContext) {
        scheduleFlush(context: context)
        startWaiting(context: context)
        resumeReadingIfBelowLowWater(context: context)
        closeIfDrained(context: context)
    }

    private func log(_ call: Call, code: StatusCode, duration: Duration, result: ServerResult) {
        guard logger.logLevel <= .debug || result.cause != nil else { return }
        var metadata: Logger.Metadata = [
            "rpc.method": "\(service.descriptor.method(at: call.frame.methodIndex)?.name ?? "#\(call.frame.methodIndex)")",
            "rpc.code": "\(code)",
            "rpc.duration_ms": "\(Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)",
        ]
        if let requestID = result.metadata?.requestID, !requestID.isEmpty { metadata["rpc.request_id"] = "\(requestID)" }
        if let cause = result.cause {
            metadata["error"] = "\(String(reflecting: type(of: cause)))"
            logger.error("call failed with an internal error", metadata: metadata)
        } else {
            logger.debug("call", metadata: metadata)
        }
    }

    /// Failure frames carry a `Status` body only for callers that asked for one.
    private func respond(
        methodIndex: UInt32, requestID: UInt32, error: RPCError, metadata: CallMetadata?,
        context: ChannelHandlerContext
    ) {
        let body = metadata?.wantsRichErrors == true ? RPCV1.Status(error).serializedBytes() : []
        var buffer = context.channel.allocator.buffer(capacity: ResponseFrame.headerSize + body.count)
        buffer.writeMultipleIntegers(
            StatusWord.word(for: error.code), methodIndex, UInt32(body.count), requestID, endianness: .little
        )
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Coalesces the flushes of calls that complete together into one write to the socket.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushPending else { return }
        flushPending = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = bound.value
            handler.flushPending = false
            handler.context?.flush()
        }
    }

    private func closeIfDrained(context: ChannelHandlerContext) {
        if draining && calls.isEmpty {
            context.flush()
            context.close(promise: nil)
        }
    }

    private func checkTimeouts() {
        guard let context else { return }
        let now = NIODeadline.now()
        let quiet = now - lastReadAt
        if readHeld {
            return  // the server paused reading: neither a stalled frame nor an idle peer
        } else if let since = partialFrameSince, processor.unprocessedBytes > 0, now - since > TimeAmount(configuration.partialFrameTimeout) {
            logger.debug("closing connection: a frame did not arrive whole in time")
            context.close(promise: nil)
        } else if calls.isEmpty && waiting.isEmpty && processor.unprocessedBytes == 0 && quiet > TimeAmount(configuration.idleTimeout) {
            logger.debug("closing idle connection")
            context.close(promise: nil)
        }
    }
}
