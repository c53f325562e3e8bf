import ArgumentParser
import Foundation
import Messages
import NIOCore
import NIOPosix
import RPC
import RPCNIO
import Synchronization

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-bench",
        abstract: "RPC throughput and latency beside a bare SwiftNIO length-prefixed echo (see deploy/scripts/bench.sh).",
        subcommands: [EchoServer.self, Client.self, CRMMatch.self, MailAnalysisBench.self, MailSyncBench.self, MailPushBench.self]
    )
}

/// The baseline server: echoes 4-byte length-prefixed frames. No protobuf, no context, no auth.
struct EchoServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo-server")
    @Option var port: Int

    func run() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedDecoder()))
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        print("echo server listening on \(port)")
        try await channel.closeFuture.get()
    }
}

struct LengthPrefixedDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self),
              buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }
    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? { try decode(buffer: &buffer) }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        var out = context.channel.allocator.buffer(capacity: 4 + payload.readableBytes)
        out.writeInteger(UInt32(payload.readableBytes), endianness: .little)
        out.writeImmutableBuffer(payload)
        context.write(wrapOutboundOut(out), promise: nil)
    }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}

/// The baseline client: one connection, FIFO matching (echo preserves order), one promise per call.
final class EchoClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = (ByteBuffer, EventLoopPromise<ByteBuffer>)
    typealias OutboundOut = ByteBuffer
    private var waiting = CircularBuffer<EventLoopPromise<ByteBuffer>>()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (payload, reply) = unwrapOutboundIn(data)
        waiting.append(reply)
        var out = context.channel.allocator.buffer(capacity: 4 + payload.readableBytes)
        out.writeInteger(UInt32(payload.readableBytes), endianness: .little)
        out.writeImmutableBuffer(payload)
        context.write(wrapOutboundOut(out), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        waiting.popFirst()?.succeed(unwrapInboundIn(data))
    }
}

struct Client: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "client")
    @Option var rpcPort: Int
    @Option var echoPort: Int
    @Option var apiKey: String
    @Option(help: "Seconds per measurement.") var seconds: Double = 3
    @Option(help: "Alternating rounds of baseline and RPC per concurrency.") var rounds: Int = 5
    @Option(help: "Where to write the figures as markdown.") var output: String?
    @Option(help: "The RPC server's process id, to measure its memory under 100,000 pipelined calls.") var rpcPid: Int32?

    func run() async throws {
        // RPC: the real Echo method of a running service, through the pooled client.
        var configuration = ClientConfiguration(targets: [("127.0.0.1", rpcPort)])
        configuration.connectionsPerTarget = 1
        let rpc = BillingV1.BillingService.Client(transport: RPCClient(configuration: configuration))
        let options = CallOptions(timeout: .seconds(5), apiKey: apiKey)
        let request = {
            var request = RPCV1.EchoRequest()
            request.text = "benchmark"
            request.n = 41
            return request
        }()
        let rpcCall: @Sendable () async throws -> Void = { _ = try await rpc.echo(request, options: options) }

        let echoChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedDecoder()))
                    try channel.pipeline.syncOperations.addHandler(EchoClientHandler())
                }
            }
            .connect(host: "127.0.0.1", port: echoPort).get()
        let payload = ByteBuffer(bytes: request.serializedBytes())
        let echoCall: @Sendable () async throws -> Void = {
            let promise = echoChannel.eventLoop.makePromise(of: ByteBuffer.self)
            echoChannel.writeAndFlush((payload, promise), promise: nil)
            _ = try await promise.futureResult.get()
        }

        // Baseline and RPC alternate, round after round, so that machine noise hits both alike;
        // each figure is the median over the rounds, and the ratio the median of per-round ratios.
        var report = "| workload | in flight | requests/s (median of \(rounds)) | p50 | p99 |\n|---|---:|---:|---:|---:|\n"
        var summary = ""
        for concurrency in [1, 64] {
            var echo: [Measurement] = [], call: [Measurement] = []
            _ = try await measure(echoCall, concurrency: concurrency, seconds: 1)  // warm-up
            _ = try await measure(rpcCall, concurrency: concurrency, seconds: 1)
            for round in 1...rounds {
                echo.append(try await measure(echoCall, concurrency: concurrency, seconds: seconds))
                call.append(try await measure(rpcCall, concurrency: concurrency, seconds: seconds))
                print(String(
                    format: "round %d, %2d in flight: bare echo %8.0f req/s (p99 %6.0f µs) | nexa RPC %8.0f req/s (p99 %6.0f µs) | ratio %.2f",
                    round, concurrency, echo.last!.throughput, echo.last!.p99 * 1e6, call.last!.throughput,
                    call.last!.p99 * 1e6, call.last!.throughput / echo.last!.throughput))
            }
            let e = Measurement.median(echo), r = Measurement.median(call)
            let ratio = median(zip(call, echo).map { $0.throughput / $1.throughput })
            report += String(format: "| bare SwiftNIO echo (baseline) | %d | %.0f | %.0f µs | %.0f µs |\n", concurrency, e.throughput, e.p50 * 1e6, e.p99 * 1e6)
            report += String(format: "| nexa RPC Echo (API key, protobuf-c, context) | %d | %.0f | %.0f µs | %.0f µs |\n", concurrency, r.throughput, r.p50 * 1e6, r.p99 * 1e6)
            if concurrency == 64 {
                summary += String(format: "RPC throughput at 64 in flight: %.0f%% of the bare echo (target ≥ 50%%): %@\n",
                                  ratio * 100, (ratio >= 0.5 ? "met" : "NOT met") as NSString)
            } else {
                summary += String(format: "RPC p99 at 1 in flight: %.0f µs (target < 1000 µs): %@\n",
                                  r.p99 * 1e6, (r.p99 < 0.001 ? "met" : "NOT met") as NSString)
            }
        }
        let (pipelinedRows, pipelinedSummary) = try await measurePipelined(request: request)
        report += pipelinedRows
        summary += pipelinedSummary
        print("\n" + report + "\n" + summary)
        if let output { try Data((report + "\n" + summary).utf8).write(to: URL(fileURLWithPath: output)) }
        try await echoChannel.close()
    }

    /// 1,000 calls written back to back on one connection, against the bare echo pipelined alike;
    /// then the RPC server's memory growth under 100,000 pipelined 1 KB calls.
    func measurePipelined(request: RPCV1.EchoRequest) async throws -> (rows: String, summary: String) {
        func frames(of request: RPCV1.EchoRequest) -> (rpc: ByteBuffer, echo: ByteBuffer) {
            var keyed = request
            var context = RPCV1.RequestContext()
            context.apiKey = apiKey
            keyed.context = context
            let body = ByteBuffer(bytes: keyed.serializedBytes())
            var rpc = ByteBuffer(), echo = ByteBuffer()
            RequestFrame(methodIndex: 2, requestID: 1, body: body).write(to: &rpc)  // 2: Echo
            echo.writeInteger(UInt32(body.readableBytes), endianness: .little)
            echo.writeImmutableBuffer(body)
            return (rpc, echo)
        }
        let small = frames(of: request)
        var echo: [Double] = [], call: [Double] = []
        _ = try await pipeline(1_000, of: small.rpc, answers: .rpc, port: rpcPort)  // warm-up
        for round in 1...rounds {
            echo.append(1_000 / (try await pipeline(1_000, of: small.echo, answers: .echo, port: echoPort)))
            call.append(1_000 / (try await pipeline(1_000, of: small.rpc, answers: .rpc, port: rpcPort)))
            print(String(
                format: "round %d, 1,000 pipelined: bare echo %8.0f calls/s | nexa RPC %8.0f calls/s, every call answered | ratio %.2f",
                round, echo.last!, call.last!, call.last! / echo.last!))
        }
        var rows = String(format: "| bare SwiftNIO echo (baseline) | 1,000 pipelined | %.0f | | |\n", median(echo))
        rows += String(format: "| nexa RPC Echo (API key, protobuf-c, context) | 1,000 pipelined | %.0f | | |\n", median(call))
        var summary = String(
            format: "1,000 calls pipelined on one connection: all answered, at %.0f%% of the bare echo's rate\n",
            median(zip(call, echo).map { $0 / $1 }) * 100)

        guard let rpcPid, let idle = residentBytes(of: rpcPid) else { return (rows, summary) }
        var large = request
        large.text = String(repeating: "x", count: 1024)
        let calls = 100_000
        let peak = Peak(idle)
        let sampler = Task {
            while !Task.isCancelled {
                if let now = residentBytes(of: rpcPid) { peak.record(now) }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        let seconds = try await pipeline(calls, of: frames(of: large).rpc, answers: .rpc, port: rpcPort)
        sampler.cancel()
        _ = await sampler.value
        let growth = Double(peak.value - idle) / 1_048_576
        summary += String(
            format: "100,000 pipelined 1 KB calls: all answered in %.1f s; server RSS %.0f MB idle, peak %.1f MB above idle (target < 64 MB): %@\n",
            seconds, Double(idle) / 1_048_576, growth, (growth < 64 ? "met" : "NOT met") as NSString)
        return (rows, summary)
    }

    /// The largest value seen by a sampling task.
    final class Peak: Sendable {
        private let largest: Mutex<Int>
        init(_ initial: Int) { largest = Mutex(initial) }
        func record(_ value: Int) { largest.withLock { $0 = max($0, value) } }
        var value: Int { largest.withLock { $0 } }
    }

    struct Measurement {
        var throughput: Double
        var p50: Double
        var p99: Double

        /// Each figure's median across rounds.
        static func median(_ all: [Measurement]) -> Measurement {
            Measurement(
                throughput: Client.median(all.map(\.throughput)), p50: Client.median(all.map(\.p50)),
                p99: Client.median(all.map(\.p99)))
        }
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    func median(_ values: [Double]) -> Double { Self.median(values) }

    /// Runs `concurrency` loops of `call` for `seconds`; latency per call, throughput overall.
    func measure(_ call: @escaping @Sendable () async throws -> Void, concurrency: Int, seconds: Double) async throws -> Measurement {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var samples: [Double] = []
                    samples.reserveCapacity(200_000)
                    while clock.now < end {
                        let t0 = clock.now
                        try await call()
                        samples.append(t0.duration(to: clock.now).inSeconds)
                    }
                    return samples
                }
            }
            var all: [Double] = []
            for try await samples in group { all += samples }
            return all.sorted()
        }
        let wall = start.duration(to: clock.now).inSeconds
        return Measurement(
            throughput: Double(latencies.count) / wall,
            p50: latencies[latencies.count / 2],
            p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
        )
    }
}

extension Duration {
    /// In seconds, for the figures the benchmarks print.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
