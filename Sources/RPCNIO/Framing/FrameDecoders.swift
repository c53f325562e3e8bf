public import NIOCore

/// Decodes request frames; refuses a body over `maximumBodySize` as soon as its header arrives.
public struct RequestFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RequestFrame
    public let maximumBodySize: Int

    public init(maximumBodySize: Int) { self.maximumBodySize = maximumBodySize }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RequestFrame? {
        guard let (method, length, id) = buffer.getMultipleIntegers(
            at: buffer.readerIndex, endianness: .little, as: (UInt32, UInt32, UInt32).self
        ) else { return nil }
        guard Int(length) <= maximumBodySize else {
            throw FrameError.frameTooLarge(methodIndex: method, requestID: id, length: length, limit: maximumBodySize)
        }
        guard buffer.readableBytes >= RequestFrame.headerSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: RequestFrame.headerSize)
        let body = buffer.readSlice(length: Int(length))!
        return RequestFrame(methodIndex: method, requestID: id, body: body)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RequestFrame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if buffer.readableBytes > 0 { throw FrameError.truncatedFrame(bufferedBytes: buffer.readableBytes) }
        return nil
    }
}

/// Decodes response frames; refuses a body over `maximumBodySize` as soon as its header arrives.
public struct ResponseFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ResponseFrame
    public let maximumBodySize: Int

    public init(maximumBodySize: Int) { self.maximumBodySize = maximumBodySize }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ResponseFrame? {
        guard let (status, method, length, id) = buffer.getMultipleIntegers(
            at: buffer.readerIndex, endianness: .little, as: (UInt32, UInt32, UInt32, UInt32).self
        ) else { return nil }
        guard Int(length) <= maximumBodySize else {
            throw FrameError.frameTooLarge(methodIndex: method, requestID: id, length: length, limit: maximumBodySize)
        }
        guard buffer.readableBytes >= ResponseFrame.headerSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: ResponseFrame.headerSize)
        let body = buffer.readSlice(length: Int(length))!
        return ResponseFrame(status: status, methodIndex: method, requestID: id, body: body)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ResponseFrame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if buffer.readableBytes > 0 { throw FrameError.truncatedFrame(bufferedBytes: buffer.readableBytes) }
        return nil
    }
}
