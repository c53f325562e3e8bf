import Messages
import NIOCore
import RPC

/// A call handed to a client connection: written as one request frame, answered through `promise`.
struct OutboundCall {
    var methodIndex: UInt32
    var body: [UInt8]
    var deadline: NIODeadline?
    /// Identifies the call for cancellation (the 4-byte wire id is reused).
    var callID: UInt64
    var promise: EventLoopPromise<ResponseFrame>
}

/// Cancels an outstanding call by its `callID`.
struct CancelCall { var callID: UInt64 }

/// Why a call on a connection failed before a response arrived.
enum ConnectionFailure: Error {
    /// The connection closed; `written` says whether the request may have reached the server.
    case closed(written: Bool)
    case deadlineExceeded
    case cancelled
}

/// Multiplexes calls over one connection: assigns wire request ids, matches responses to calls
/// out of order, and fails calls on deadline, cancellation or close. Lives on the event loop.
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ResponseFrame
    typealias OutboundIn = OutboundCall
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var callID: UInt64
        var promise: EventLoopPromise<ResponseFrame>
        var timer: Scheduled<Void>?
    }

    private var pending: [UInt32: Pending] = [:]
    private var wireIDByCall: [UInt64: UInt32] = [:]
    private var nextWireID: UInt32 = 0
    private var isActive = true
    private var flushPending = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        guard isActive else {
            call.promise.fail(ConnectionFailure.closed(written: false))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if let deadline = call.deadline, deadline <= .now() {
            call.promise.fail(ConnectionFailure.deadlineExceeded)
            promise?.succeed()
            return
        }
        let wireID = allocateWireID()
        var entry = Pending(callID: call.callID, promise: call.promise, timer: nil)
        if let deadline = call.deadline {
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            entry.timer = context.eventLoop.scheduleTask(deadline: deadline) {
                bound.value.fail(wireID: wireID, with: .deadlineExceeded)
            }
        }
        pending[wireID] = entry
        wireIDByCall[call.callID] = wireID
        var buffer = context.channel.allocator.buffer(capacity: RequestFrame.headerSize + call.body.count)
        buffer.writeMultipleIntegers(call.methodIndex, UInt32(call.body.count), wireID, endianness: .little)
        buffer.writeBytes(call.body)
        context.write(wrapOutboundOut(buffer), promise: promise)
        scheduleFlush(context: context)
    }

    /// Calls written together (from many tasks) go out in one write to the socket.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushPending else { return }
        flushPending = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.flushPending = false
            if handler.isActive { context.flush() }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // A response to a call we gave up on (deadline, cancel) is dropped.
        guard let entry = pending.removeValue(forKey: frame.requestID) else { return }
        entry.timer?.cancel()
        wireIDByCall[entry.callID] = nil
        entry.promise.succeed(frame)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let cancel = event as? CancelCall {
            if let wireID = wireIDByCall[cancel.callID] { fail(wireID: wireID, with: .cancelled) }
            promise?.succeed()
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        for (wireID, _) in pending { fail(wireID: wireID, with: .closed(written: true)) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func fail(wireID: UInt32, with failure: ConnectionFailure) {
        guard let entry = pending.removeValue(forKey: wireID) else { return }
        entry.timer?.cancel()
        wireIDByCall[entry.callID] = nil
        entry.promise.fail(failure)
    }

    /// Wire ids start at 1 and skip ids still outstanding.
    private func allocateWireID() -> UInt32 {
        repeat { nextWireID &+= 1 } while nextWireID == 0 || pending[nextWireID] != nil
        return nextWireID
    }
}
