public import NIOCore

/// A protobuf-c-rpc request: 12-byte little-endian header (method index, body length, request id),
/// then the body.
public struct RequestFrame: Hashable, Sendable {
    public static let headerSize = 12
    public var methodIndex: UInt32
    /// Opaque to the server; echoed back unchanged.
    public var requestID: UInt32
    public var body: ByteBuffer

    public init(methodIndex: UInt32, requestID: UInt32, body: ByteBuffer) {
        self.methodIndex = methodIndex
        self.requestID = requestID
        self.body = body
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(
            methodIndex, UInt32(body.readableBytes), requestID, endianness: .little
        )
        buffer.writeImmutableBuffer(body)
    }
}

/// A protobuf-c-rpc response: 16-byte little-endian header (status, method index, body length,
/// request id), then the body. Stock peers require an empty body when the status is not 0.
public struct ResponseFrame: Hashable, Sendable {
    public static let headerSize = 16
    public var status: UInt32
    public var methodIndex: UInt32
    public var requestID: UInt32
    public var body: ByteBuffer

    public init(status: UInt32, methodIndex: UInt32, requestID: UInt32, body: ByteBuffer) {
        self.status = status
        self.methodIndex = methodIndex
        self.requestID = requestID
        self.body = body
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(
            status, methodIndex, UInt32(body.readableBytes), requestID, endianness: .little
        )
        buffer.writeImmutableBuffer(body)
    }
}

/// A frame the decoders refuse.
public enum FrameError: Error, Hashable, Sendable {
    /// The header announced a body over the cap; nothing of it was buffered.
    case frameTooLarge(methodIndex: UInt32, requestID: UInt32, length: UInt32, limit: Int)
    /// The connection ended inside a frame.
    case truncatedFrame(bufferedBytes: Int)
}
