import Foundation
import NIOCore
import NIOPosix

/// One connection that writes `total` frames as fast as the socket takes them (pipelined: it never
/// waits for an answer before the next request) and counts the answers. Both sides of the bench
/// use it, so the RPC server and the bare echo are driven alike.
final class PipelineDriver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How the peer frames its answers.
    struct Answers: Sendable {
        var headerSize: Int
        var lengthOffset: Int
        /// Whether the answer at the start of the header is a success.
        var isSuccess: @Sendable (ByteBuffer) -> Bool
    }

    private let total: Int
    private let request: ByteBuffer
    private let answers: Answers
    private let done: EventLoopPromise<Int>
    private var sent = 0
    private var answered = 0
    private var failed = 0
    private var received = ByteBuffer()

    /// `request` is one whole frame; `done` gets the number of answers that were not a success.
    init(total: Int, request: ByteBuffer, answers: Answers, done: EventLoopPromise<Int>) {
        self.total = total
        self.request = request
        self.answers = answers
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        writeWhileWritable(context: context)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writeWhileWritable(context: context)
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        received.writeBuffer(&chunk)
        while received.readableBytes >= answers.headerSize,
              let length = received.getInteger(at: received.readerIndex + answers.lengthOffset, endianness: .little, as: UInt32.self),
              received.readableBytes >= answers.headerSize + Int(length) {
            if !answers.isSuccess(received) { failed += 1 }
            received.moveReaderIndex(forwardBy: answers.headerSize + Int(length))
            answered += 1
        }
        received.discardReadBytes()
        if answered == total { done.succeed(failed) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.eof)  // a no-op once succeeded
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    private func writeWhileWritable(context: ChannelHandlerContext) {
        while sent < total && context.channel.isWritable {
            let batch = min(64, total - sent)
            var buffer = context.channel.allocator.buffer(capacity: batch * request.readableBytes)
            for _ in 0..<batch { buffer.writeImmutableBuffer(request) }
            sent += batch
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
        context.flush()
    }
}

extension PipelineDriver.Answers {
    /// protobuf-c-rpc: status, method, length, request id; success is status 0.
    static let rpc = Self(headerSize: 16, lengthOffset: 8) {
        $0.getInteger(at: $0.readerIndex, endianness: .little, as: UInt32.self) == 0
    }
    /// The bare echo: a 4-byte length, then the payload.
    static let echo = Self(headerSize: 4, lengthOffset: 0) { _ in true }
}

/// Pipelines `total` copies of `request` on a fresh connection; returns the seconds it took.
/// - Throws: when any answer was not a success, or the connection ended first.
func pipeline(
    _ total: Int, of request: ByteBuffer, answers: PipelineDriver.Answers, port: Int
) async throws -> Double {
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let done = loop.makePromise(of: Int.self)
    let clock = ContinuousClock()
    let start = clock.now
    let channel = try await ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .connectTimeout(.seconds(5))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    PipelineDriver(total: total, request: request, answers: answers, done: done))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let failed = try await done.futureResult.get()
    let elapsed = start.duration(to: clock.now)
    try? await channel.close()
    guard failed == 0 else { throw PipelineFailed(failed: failed, total: total) }
    return elapsed.inSeconds
}

struct PipelineFailed: Error, CustomStringConvertible {
    var failed: Int
    var total: Int
    var description: String { "\(failed) of \(total) pipelined calls were not answered with success" }
}

/// Resident memory of process `pid` in bytes, from `/proc/<pid>/status` (Linux).
func residentBytes(of pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    else { return nil }
    return kilobytes * 1024
}
