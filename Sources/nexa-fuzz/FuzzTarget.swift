import Messages
import NIOCore
import RPCNIO

/// One fuzz input: the first byte picks how the rest is split into reads (as TCP may deliver
/// it); the rest goes through both frame decoders, and every frame body through the message
/// decoders. Any crash, hang or unbounded growth is the finding; errors are expected.
enum FuzzTarget {
    static let maximumBodySize = 64 * 1024

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first else { return }
        let bytes = input.dropFirst()
        let step = Int(first % 17) + 1
        let requests = NIOSingleStepByteToMessageProcessor(RequestFrameDecoder(maximumBodySize: maximumBodySize))
        var offset = bytes.startIndex
        do {
            while offset < bytes.endIndex {
                let end = min(bytes.endIndex, offset + step)
                try requests.process(buffer: ByteBuffer(bytes: bytes[offset..<end])) { frame in
                    precondition(frame.body.readableBytes <= maximumBodySize, "a frame over the cap was buffered")
                    decodeBodies(Array(buffer: frame.body))
                }
                offset = end
            }
            try requests.finishProcessing(seenEOF: true) { _ in }
        } catch {}
        let responses = NIOSingleStepByteToMessageProcessor(ResponseFrameDecoder(maximumBodySize: maximumBodySize))
        do {
            try responses.process(buffer: ByteBuffer(bytes: bytes)) { frame in decodeBodies(Array(buffer: frame.body)) }
        } catch {}
        decodeBodies(Array(bytes))
    }

    /// Every message a server or client decodes; a decoded message must re-encode and decode equal.
    static func decodeBodies(_ body: [UInt8]) {
        roundTrip(RPCV1.EchoRequest.self, body)
        roundTrip(RPCV1.HealthCheckRequest.self, body)
        roundTrip(RPCV1.ListMethodsRequest.self, body)
        roundTrip(RPCV1.ListMethodsResponse.self, body)
        roundTrip(RPCV1.Status.self, body)
    }

    static func roundTrip<M: ProtoMessage>(_ type: M.Type, _ body: [UInt8]) {
        guard let message = try? M(serializedBytes: body) else { return }
        let again = try? M(serializedBytes: message.serializedBytes())
        precondition(again == message, "\(M.protoName) does not survive a re-encode")
    }

    /// Inputs that reach deep states quickly: valid frames around valid messages.
    static func seeds() -> [[UInt8]] {
        var echo = RPCV1.EchoRequest()
        echo.text = "hi"
        echo.n = 41
        var context = RPCV1.RequestContext()
        context.apiKey = "nexa_0123456789abcdef_secret"
        context.timeoutMs = 1000
        echo.context = context
        var list = RPCV1.ListMethodsResponse()
        var info = RPCV1.MethodInfo()
        info.name = "Echo"
        list.methods = [info, info]
        return [echo.serializedBytes(), list.serializedBytes(), []].map { body in
            var frame: [UInt8] = [3]
            for word in [UInt32(2), UInt32(body.count), UInt32(7)] { withUnsafeBytes(of: word.littleEndian) { frame += $0 } }
            return frame + body
        } + [[1, 0, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0x0a, 0x02, 0x68, 0x69, 0x10, 0x29]]
    }
}
