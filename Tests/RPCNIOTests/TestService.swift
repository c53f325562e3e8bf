import Logging
import Messages
import NIOCore
import NIOPosix
import RPC
import RPCNIO
import ServiceLifecycle
import Synchronization
import TestSupport

/// A service for transport tests: 0 Check, 1 Sleep (sleeps `n` ms, echoes), 2 Fail (NOT_FOUND),
/// 3 Crash (a non-RPC error), 4 IdempotentSleep, 5 WhoAmI (the caller's proven service identity).
struct TestService: ServerService {
    final class Probe: Sendable {
        let started = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
        /// Sleep calls running at once, and the most seen.
        let inFlight = Atomic<Int>(0)
        let mostInFlight = Atomic<Int>(0)

        /// Waits until `count` calls reached the handler.
        func waitUntilStarted(_ count: Int) async throws {
            try await Wait.until("\(count) calls reached the handler") { started.load(ordering: .relaxed) >= count }
        }

        /// Waits until `count` calls were cancelled.
        func waitUntilCancelled(_ count: Int) async throws {
            try await Wait.until("\(count) calls were cancelled") { cancelled.load(ordering: .relaxed) >= count }
        }
    }

    let probe = Probe()

    let descriptor = ServiceDescriptor(name: "nexa.test.v1.TestService", methods: [
        MethodDescriptor(index: 0, name: "Check", inputType: "nexa.rpc.v1.HealthCheckRequest", outputType: "nexa.rpc.v1.HealthCheckResponse", isIdempotent: true, isPublic: true),
        MethodDescriptor(index: 1, name: "Sleep", inputType: "nexa.rpc.v1.EchoRequest", outputType: "nexa.rpc.v1.EchoResponse"),
        MethodDescriptor(index: 2, name: "Fail", inputType: "nexa.rpc.v1.EchoRequest", outputType: "nexa.rpc.v1.EchoResponse"),
        MethodDescriptor(index: 3, name: "Crash", inputType: "nexa.rpc.v1.EchoRequest", outputType: "nexa.rpc.v1.EchoResponse"),
        MethodDescriptor(index: 4, name: "GetSleep", inputType: "nexa.rpc.v1.EchoRequest", outputType: "nexa.rpc.v1.EchoResponse", isIdempotent: true),
        MethodDescriptor(index: 5, name: "WhoAmI", inputType: "nexa.rpc.v1.EchoRequest", outputType: "nexa.rpc.v1.EchoResponse"),
    ])

    struct Crash: Error { var secret = "password=hunter2" }

    func handle(methodIndex: UInt32, request: [UInt8], environment: ServerEnvironment) async -> ServerResult {
        let d = descriptor
        switch methodIndex {
        case 0:
            return await ServerCall.run(request, as: RPCV1.HealthCheckRequest.self, method: d.methods[0], service: d, environment: environment) {
                try await StandardMethods.check($0, context: $1, service: d, environment: environment)
            }
        case 1, 4:
            return await ServerCall.run(request, as: RPCV1.EchoRequest.self, method: d.methods[Int(methodIndex)], service: d, environment: environment) { request, _ in
                probe.started.add(1, ordering: .relaxed)
                let running = probe.inFlight.add(1, ordering: .relaxed).newValue
                probe.mostInFlight.max(running, ordering: .relaxed)
                defer { probe.inFlight.subtract(1, ordering: .relaxed) }
                do {
                    try await Task.sleep(for: .milliseconds(request.n))
                } catch {
                    probe.cancelled.add(1, ordering: .relaxed)
                    throw error
                }
                probe.finished.add(1, ordering: .relaxed)
                var response = RPCV1.EchoResponse()
                response.text = request.text
                response.n = request.n
                return response
            }
        case 2:
            return await ServerCall.run(request, as: RPCV1.EchoRequest.self, method: d.methods[2], service: d, environment: environment) { _, _ -> RPCV1.EchoResponse in
                throw RPCError(.notFound, "nothing here")
            }
        case 3:
            return await ServerCall.run(request, as: RPCV1.EchoRequest.self, method: d.methods[3], service: d, environment: environment) { _, _ -> RPCV1.EchoResponse in
                throw Crash()
            }
        case 5:
            return await ServerCall.run(request, as: RPCV1.EchoRequest.self, method: d.methods[5], service: d, environment: environment) { _, context in
                var response = RPCV1.EchoResponse()
                response.text = context.principal?.serviceIdentity ?? "(no identity)"
                return response
            }
        default:
            return ServerCall.unknownMethod(methodIndex, service: d)
        }
    }
}

/// Accepts the key "good" (workspace w1), denies "other" the service, rejects anything else.
struct TestAuthenticator: CallAuthenticator {
    func authenticate(_ metadata: CallMetadata, service: ServiceDescriptor, method: MethodDescriptor) async throws -> Principal {
        switch metadata.apiKey {
        case "good": return Principal(keyID: "k1", workspaceID: "w1")
        case "other": throw RPCError(.permissionDenied, "this API key may not call \(service.shortName)")
        case "": throw RPCError(.unauthenticated, "an API key is required")
        default: throw RPCError(.unauthenticated, "the API key is not valid")
        }
    }
}

/// Holds every call presenting the key "held" in authentication until `release()`, then refuses
/// it; other keys as `TestAuthenticator`. Counts the calls held at once.
final class HeldAuthenticator: CallAuthenticator {
    let entered = Atomic<Int>(0)
    let mostInside = Atomic<Int>(0)
    private let inside = Atomic<Int>(0)
    private let gate = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func release() {
        for waiter in gate.withLock({ state in state.open = true; defer { state.waiting = [] }; return state.waiting }) { waiter.resume() }
    }

    func authenticate(_ metadata: CallMetadata, service: ServiceDescriptor, method: MethodDescriptor) async throws -> Principal {
        guard metadata.apiKey == "held" else { return try await TestAuthenticator().authenticate(metadata, service: service, method: method) }
        entered.add(1, ordering: .relaxed)
        mostInside.max(inside.add(1, ordering: .relaxed).newValue, ordering: .relaxed)
        await withCheckedContinuation { continuation in
            let open = gate.withLock { state in
                if !state.open { state.waiting.append(continuation) }
                return state.open
            }
            if open { continuation.resume() }
        }
        inside.subtract(1, ordering: .relaxed)
        throw RPCError(.unauthenticated, "the API key is not valid")
    }
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs `server` in a service group for the duration of `body`, then shuts it down gracefully.
func withRunningServer<R: Sendable>(
    _ server: RPCServer, _ body: (Int) async throws -> R
) async throws -> R {
    let group = ServiceGroup(services: [server], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let port = try await server.waitUntilListening().port!
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

func makeServer(_ service: TestService = TestService(), authenticator: any CallAuthenticator = TestAuthenticator(),
                configure: (inout ServerConfiguration) -> Void = { _ in }) -> RPCServer {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configure(&configuration)
    return RPCServer(service: service, configuration: configuration, authenticator: authenticator, logger: quietLogger)
}

func makeClient(port: Int, configure: (inout ClientConfiguration) -> Void = { _ in }) -> RPCClient {
    var configuration = ClientConfiguration(targets: [("127.0.0.1", port)])
    configure(&configuration)
    return RPCClient(configuration: configuration)
}

extension RPCClient {
    /// Calls method `index` of the test service with an EchoRequest.
    func echo(_ index: Int, text: String = "hi", n: Int64 = 0, key: String? = "good", timeout: Duration? = .seconds(60)) async throws -> RPCV1.EchoResponse {
        var request = RPCV1.EchoRequest()
        request.text = text
        request.n = n
        return try await ClientCall.run(
            request, method: TestService().descriptor.methods[index], transport: self,
            options: CallOptions(timeout: timeout, apiKey: key)
        )
    }
}

/// A raw TCP peer that speaks bytes, like a stock protobuf-c-rpc client.
struct RawPeer {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(port: Int) async throws -> RawPeer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return RawPeer(channel: channel)
    }

    /// Sends `bytes` and reads until `frames` response frames arrived or the peer closed; returns
    /// what arrived.
    /// - Throws: `Wait.TimedOut` when neither happened within `timeout` (a bound on a hang only).
    func exchange(_ bytes: [UInt8], frames: Int, timeout: Duration = .seconds(60)) async throws -> [UInt8] {
        try await channel.executeThenClose { inbound, outbound in
            if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
            let received = ReceivedBytes()
            return try await withThrowingTaskGroup(of: [UInt8].self) { group in
                group.addTask {
                    for try await chunk in inbound {
                        let count = received.bytes.withLock { $0 += Array(buffer: chunk); return responseFrames($0).count }
                        if count >= frames { break }
                    }
                    return received.bytes.withLock { $0 }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw Wait.TimedOut(what: "\(frames) response frames or the server's close", limit: timeout)
                }
                let result = try await group.next()!
                group.cancelAll()
                return result
            }
        }
    }
}

extension RawPeer {
    /// Sends `bytes`, runs `whileOpen`, then closes the connection.
    func send(_ bytes: [UInt8], whileOpen: () async throws -> Void) async throws {
        try await channel.executeThenClose { _, outbound in
            try await outbound.write(ByteBuffer(bytes: bytes))
            try await whileOpen()
        }
    }
}

/// Bytes shared between a reader and a timer.
final class ReceivedBytes: Sendable {
    let bytes = Mutex<[UInt8]>([])
}

func requestFrame(method: UInt32, id: UInt32, body: [UInt8]) -> [UInt8] {
    var b = ByteBuffer()
    RequestFrame(methodIndex: method, requestID: id, body: ByteBuffer(bytes: body)).write(to: &b)
    return Array(buffer: b)
}

func echoBody(text: String = "hi", n: Int64 = 0, key: String = "good", rich: Bool = false, timeoutMs: UInt64 = 0) -> [UInt8] {
    var request = RPCV1.EchoRequest()
    var context = RPCV1.RequestContext()
    context.apiKey = key
    context.richErrors = rich
    context.timeoutMs = timeoutMs
    request.context = context
    request.text = text
    request.n = n
    return request.serializedBytes()
}

/// (status, method, length, id, body) of each response frame in `bytes`.
func responseFrames(_ bytes: [UInt8]) -> [(status: UInt32, method: UInt32, id: UInt32, body: [UInt8])] {
    var buffer = ByteBuffer(bytes: bytes)
    var frames: [(UInt32, UInt32, UInt32, [UInt8])] = []
    while let (status, method, length, id) = buffer.readMultipleIntegers(endianness: .little, as: (UInt32, UInt32, UInt32, UInt32).self),
          let body = buffer.readBytes(length: Int(length)) {
        frames.append((status, method, id, body))
    }
    return frames
}
