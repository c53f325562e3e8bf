import NIOCore
import NIOTestUtils
import RPCNIO
import TestSupport
import Testing

@Suite(.hangGuard) struct FrameDecoderTests {
    func requestBytes(_ frame: RequestFrame) -> ByteBuffer {
        var b = ByteBuffer()
        frame.write(to: &b)
        return b
    }

    @Test func headerLayoutMatchesTheReference() {
        // Reference example: method 0, length 6, request id 1, body 0a 02 68 69 10 29.
        let frame = RequestFrame(methodIndex: 0, requestID: 1, body: ByteBuffer(bytes: [0x0a, 0x02, 0x68, 0x69, 0x10, 0x29]))
        #expect(Array(buffer: requestBytes(frame)) == [0, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0x0a, 0x02, 0x68, 0x69, 0x10, 0x29])
        let failure = ResponseFrame(status: 1, methodIndex: 2, requestID: 1, body: ByteBuffer())
        var b = ByteBuffer()
        failure.write(to: &b)
        #expect(Array(buffer: b) == [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    }

    @Test func requestIDIsOpaqueLittleEndian() {
        let frame = RequestFrame(methodIndex: 0, requestID: 0xdead_beef, body: ByteBuffer())
        #expect(Array(Array(buffer: requestBytes(frame))[8..<12]) == [0xef, 0xbe, 0xad, 0xde])
    }

    /// Splits the input at every byte boundary and feeds many frames per read (NIO's verifier).
    @Test func requestDecoderHandlesEverySplit() throws {
        let frames = [
            RequestFrame(methodIndex: 0, requestID: 1, body: ByteBuffer(bytes: [0x0a, 0x02, 0x68, 0x69])),
            RequestFrame(methodIndex: 7, requestID: 0xffff_ffff, body: ByteBuffer()),
            RequestFrame(methodIndex: 2, requestID: 3, body: ByteBuffer(repeating: 0x42, count: 300)),
        ]
        var all = ByteBuffer()
        for f in frames { f.write(to: &all) }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(all, frames)] + frames.map { (requestBytes($0), [$0]) },
            decoderFactory: { RequestFrameDecoder(maximumBodySize: 1024) }
        )
    }

    @Test func responseDecoderHandlesEverySplit() throws {
        let frames = [
            ResponseFrame(status: 0, methodIndex: 0, requestID: 1, body: ByteBuffer(bytes: [0x0a, 0x02, 0x68, 0x69, 0x10, 0x2a])),
            ResponseFrame(status: 0x10c, methodIndex: 9, requestID: 2, body: ByteBuffer()),
        ]
        var all = ByteBuffer()
        for f in frames { f.write(to: &all) }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(all, frames)],
            decoderFactory: { ResponseFrameDecoder(maximumBodySize: 1024) }
        )
    }

    @Test func oversizedFrameIsRefusedFromItsHeaderAlone() throws {
        var decoder = RequestFrameDecoder(maximumBodySize: 1024)
        var header = ByteBuffer()
        header.writeMultipleIntegers(UInt32(3), UInt32.max, UInt32(9), endianness: .little)
        #expect(throws: FrameError.frameTooLarge(methodIndex: 3, requestID: 9, length: UInt32.max, limit: 1024)) {
            try decoder.decode(buffer: &header)
        }
    }

    @Test func partialHeaderWaits() throws {
        var decoder = RequestFrameDecoder(maximumBodySize: 1024)
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0, 6, 0, 0])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 7)
    }

    @Test func eofInsideAFrameIsAnError() {
        var decoder = RequestFrameDecoder(maximumBodySize: 1024)
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0x0a])
        #expect(throws: FrameError.truncatedFrame(bufferedBytes: 13)) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
    }
}
