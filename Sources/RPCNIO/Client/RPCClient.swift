import Messages
public import NIOCore
public import NIOPosix
public import RPC
import Synchronization

/// A pooled client for one service: a few connections per replica, round-robin, reconnect with
/// backoff, deadlines, and retries only where safe (the request was never written, or the
/// method is idempotent).
public final class RPCClient: ClientTransport, Sendable {
    public let configuration: ClientConfiguration
    private let group: any EventLoopGroup
    private let slots: [ConnectionSlot]
    private let nextSlot = Atomic<Int>(0)
    private let nextCallID = Atomic<UInt64>(0)

    public init(configuration: ClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
        var slots: [ConnectionSlot] = []
        for target in configuration.targets {
            for _ in 0..<max(1, configuration.connectionsPerTarget) {
                slots.append(ConnectionSlot(host: target.host, port: target.port, configuration: configuration, group: group))
            }
        }
        self.slots = slots
    }

    /// Closes every connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        for slot in slots { await slot.close() }
    }

    public func unary(_ method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> [UInt8] {
        let deadline = options.timeout.map { NIODeadline.now() + TimeAmount($0) }
        let mayRetryWritten = options.retryIfWritten ?? method.isIdempotent
        var attempt = 0
        var backoff = configuration.initialBackoff
        while true {
            attempt += 1
            let slot = slots[nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
            let failure: RPCError
            let retryable: Bool
            var notBefore: NIODeadline? = nil
            do {
                let channel = try await slot.channel()
                let frame = try await send(method, request, on: channel, deadline: deadline)
                return try Self.decode(frame)
            } catch let error as ConnectionFailure {
                switch error {
                case .deadlineExceeded:
                    throw RPCError(.deadlineExceeded, "no response from \(slot.name) before the deadline")
                case .cancelled:
                    throw RPCError(.cancelled, "the call was cancelled")
                case .closed(let written):
                    failure = RPCError(.unavailable, "the connection to \(slot.name) closed \(written ? "before the response" : "before the request was sent")")
                    retryable = !written || mayRetryWritten
                }
            } catch let error as SlotUnavailable {
                failure = RPCError(.unavailable, error.description)
                retryable = true
                notBefore = error.retryAfter
            }
            guard retryable, attempt < configuration.maximumAttempts, !Task.isCancelled else { throw failure }
            // Full jitter, but not before a lone replica's reconnect backoff has passed.
            var wakeAt = NIODeadline.now() + .nanoseconds(Int64.random(in: 0...max(1, backoff.nanoseconds)))
            if slots.count == 1, let notBefore, notBefore > wakeAt { wakeAt = notBefore }
            if let deadline, wakeAt >= deadline {
                throw RPCError(.deadlineExceeded, "\(failure.message); no time left to retry")
            }
            try? await Task.sleep(for: .nanoseconds((wakeAt - .now()).nanoseconds))
            backoff = min(backoff * 2, configuration.maximumBackoff)
        }
    }

    private func send(
        _ method: MethodDescriptor, _ request: [UInt8], on channel: any Channel, deadline: NIODeadline?
    ) async throws -> ResponseFrame {
        let promise = channel.eventLoop.makePromise(of: ResponseFrame.self)
        let callID = nextCallID.wrappingAdd(1, ordering: .relaxed).newValue
        let call = OutboundCall(methodIndex: method.index, body: request, deadline: deadline, callID: callID, promise: promise)
        // The connection handler flushes (coalescing the calls written together).
        channel.write(call).whenFailure { _ in
            // Never reached the connection handler: the request was not written.
            promise.fail(ConnectionFailure.closed(written: false))
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.triggerUserOutboundEvent(CancelCall(callID: callID), promise: nil)
        }
    }

    /// Turns a response frame into the response body or the server's status.
    static func decode(_ frame: ResponseFrame) throws -> [UInt8] {
        let code = StatusWord.code(for: frame.status)
        if code == .ok { return Array(buffer: frame.body) }
        if frame.body.readableBytes > 0, let status = try? RPCV1.Status(serializedBytes: Array(buffer: frame.body)) {
            throw RPCError(StatusCode(rawValue: Int(status.code)), status.message)
        }
        throw RPCError(code, "the server answered \(code) (status word \(frame.status))")
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
