@testable import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Synchronization
import TestSupport
import Testing

/// A request context that knows the client's address, to count connections.
struct AddressContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

@Suite(.hangGuard) struct HTTPClientTests {
    final class Connections: Sendable {
        let remotes = Mutex<Set<String>>([])
        /// Requests inside `/together` right now.
        let together = Atomic<Int>(0)
        /// Set when the test's body has returned: `/slow` answers only then.
        let over = Atomic<Bool>(false)
    }

    /// A local server with the endpoints the tests need, on a real port.
    func withServer(_ body: @escaping @Sendable (String, Connections) async throws -> Void) async throws {
        let connections = Connections()
        let router = Router(context: AddressContext.self)
        router.get("hello") { request, context in
            if let remote = context.remoteAddress { connections.remotes.withLock { _ = $0.insert("\(remote)") } }
            return Response(status: .ok, headers: [HTTPField.Name("X-Test")!: "yes"], body: .init(byteBuffer: ByteBuffer(string: "hi")))
        }
        router.post("echo") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 4 << 20)
            return Response(status: .created, headers: [.contentType: request.headers[.contentType] ?? "none"], body: .init(byteBuffer: body))
        }
        router.put("echo") { request, _ in
            var request = request
            return Response(status: .ok, body: .init(byteBuffer: try await request.collectBody(upTo: 4 << 20)))
        }
        router.get("big") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: 0x61, count: 2 << 20))) }
        router.get("slow") { _, _ in
            // Answers only once the test is over: a client that gets an answer did not give up.
            connections.remotes.withLock { _ = $0.insert("slow") }
            try await Wait.until("the test is over", within: .seconds(600)) { connections.over.load(ordering: .relaxed) }
            return Response(status: .ok)
        }
        router.get("together") { _, _ in
            // Answers once 8 requests are inside at the same time: only concurrent transfers get through.
            connections.together.add(1, ordering: .relaxed)
            try await Wait.until("8 requests are in at once") { connections.together.load(ordering: .relaxed) >= 8 }
            return Response(status: .ok)
        }
        router.get("missing") { _, _ in Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "nope"))) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in
            defer { connections.over.store(true, ordering: .relaxed) }
            try await body("http://127.0.0.1:\(client.port!)", connections)
        }
    }

    @Test func getsAndPostsWithHeadersAndBodies() async throws {
        try await withServer { base, _ in
            let http = HTTPClient()
            let hello = try await http.execute(HTTPClientRequest(url: base + "/hello"))
            #expect(hello.status == 200 && hello.bodyText == "hi" && hello.header("x-test") == "yes")
            let echoed = try await http.execute(.json(base + "/echo", Array(#"{"a":1}"#.utf8)))
            #expect(echoed.status == 201 && echoed.bodyText == #"{"a":1}"# && echoed.header("Content-Type") == "application/json")
            let form = try await http.execute(.form(base + "/echo", [("items[0][price]", "price_1"), ("name", "Ana María & co")]))
            #expect(form.bodyText == "items%5B0%5D%5Bprice%5D=price_1&name=Ana%20Mar%C3%ADa%20%26%20co")
            let missing = try await http.execute(HTTPClientRequest(url: base + "/missing"))
            #expect(missing.status == 404 && missing.bodyText == "nope")  // a status is an answer, not an error
        }
    }

    @Test func aFileBodyStreamsFromDisk() async throws {
        try await withServer { base, _ in
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("nexa-body-\(UUID().uuidString)")
            let bytes = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try Data(bytes).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let http = HTTPClient(configuration: { var c = HTTPClient.Configuration(); c.maximumResponseSize = 4 << 20; return c }())
            let posted = try await http.execute(HTTPClientRequest(method: "POST", url: base + "/echo", headers: [.init("Content-Type", "text/csv")],
                                                                  bodyFile: file.path))
            #expect(posted.status == 201 && posted.body == bytes && posted.header("Content-Type") == "text/csv")
            let put = try await http.execute(HTTPClientRequest(method: "PUT", url: base + "/echo", bodyFile: file.path))
            #expect(put.status == 200 && put.body == bytes)
            await #expect(throws: HTTPClientError.self) {
                _ = try await http.execute(HTTPClientRequest(method: "POST", url: base + "/echo", bodyFile: "/nonexistent/file"))
            }
        }
    }

    @Test func connectionsAreReused() async throws {
        try await withServer { base, connections in
            let http = HTTPClient(configuration: { var c = HTTPClient.Configuration(); c.concurrentTransfers = 1; return c }())
            for _ in 0..<5 { _ = try await http.execute(HTTPClientRequest(url: base + "/hello")) }
            #expect(connections.remotes.withLock { $0.count } == 1)
        }
    }

    @Test func manyTransfersRunConcurrently() async throws {
        try await withServer { base, _ in
            let http = HTTPClient()  // 8 transfers at once
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await http.execute(HTTPClientRequest(url: base + "/together"), timeout: .seconds(120)).status } }
                for try await status in group { #expect(status == 200) }
            }
        }
    }

    @Test func failuresAreTyped() async throws {
        try await withServer { base, _ in
            let small = HTTPClient(configuration: { var c = HTTPClient.Configuration(); c.maximumResponseSize = 1 << 20; return c }())
            await expect(.responseTooLarge) { try await small.execute(HTTPClientRequest(url: base + "/big")) }
            await expect(.timedOut) { try await small.execute(HTTPClientRequest(url: base + "/slow"), timeout: .milliseconds(200)) }
            await expect(.couldNotConnect) { try await small.execute(HTTPClientRequest(url: "http://127.0.0.1:1/x")) }
            await expect(.invalidURL) { try await small.execute(HTTPClientRequest(url: "ftp://127.0.0.1/x")) }
        }
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        try await withServer { base, connections in
            let http = HTTPClient()
            // The endpoint answers only after the test: a transfer that was not aborted would end
            // with its own timeout (`timedOut`), not `cancelled`.
            let transfer = Task { try await http.execute(HTTPClientRequest(url: base + "/slow"), timeout: .seconds(120)) }
            try await Wait.until("the transfer has reached the server") { connections.remotes.withLock { !$0.isEmpty } }
            transfer.cancel()
            await expect(.cancelled) { try await transfer.value }
            // Cancelled before any thread takes the transfer up: the same typed error.
            let early = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await http.execute(HTTPClientRequest(url: base + "/hello"))
            }
            await expect(.cancelled) { try await early.value }
        }
    }

    func expect(_ code: HTTPClientError.Code, _ body: () async throws -> HTTPClientResponse, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await body()
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch let error as HTTPClientError {
            #expect(error.code == code, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }
}

@Suite(.hangGuard) struct RetryPolicyTests {
    @Test func backoffGrowsAndStaysWithinItsCeiling() {
        var policy = RetryPolicy()
        policy.initialBackoff = .milliseconds(100)
        policy.maximumBackoff = .milliseconds(250)
        for _ in 0..<200 {
            #expect(policy.backoff(retry: 1) <= .milliseconds(100))
            #expect(policy.backoff(retry: 2) <= .milliseconds(200))
            #expect(policy.backoff(retry: 9) <= .milliseconds(250))
        }
    }
}

@Suite(.hangGuard) struct RetryTests {
    final class Counter: Sendable { let hits = Mutex<Int>(0) }

    /// A server that answers `failures` times with `status` (and Retry-After), then 200.
    func withFlakyServer(status: Int, retryAfter: String?, failures: Int,
                         _ body: @escaping @Sendable (String, Counter) async throws -> Void) async throws {
        let counter = Counter()
        let router = Router()
        router.get("flaky") { _, _ in
            let n = counter.hits.withLock { $0 += 1; return $0 }
            guard n > failures else {
                var headers: HTTPFields = [:]
                if let retryAfter { headers[.retryAfter] = retryAfter }
                return Response(status: .init(code: status), headers: headers)
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "finally")))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in try await body("http://127.0.0.1:\(client.port!)/flaky", counter) }
    }

    var fast: RetryPolicy {
        var p = RetryPolicy()
        p.initialBackoff = .milliseconds(10)
        return p
    }

    @Test func retriesThroughTransientFailuresHonouringRetryAfter() async throws {
        try await withFlakyServer(status: 429, retryAfter: "1", failures: 2) { url, counter in
            let start = ContinuousClock.now
            let response = try await HTTPClient().execute(HTTPClientRequest(url: url), retry: fast)
            #expect(response.status == 200 && response.bodyText == "finally")
            #expect(counter.hits.withLock { $0 } == 3)
            #expect(start.duration(to: .now) >= .seconds(2))  // two Retry-After: 1 waits
        }
    }

    @Test func givesUpWithATypedErrorAfterTheLastRetry() async throws {
        try await withFlakyServer(status: 503, retryAfter: nil, failures: 100) { url, counter in
            do {
                _ = try await HTTPClient().execute(HTTPClientRequest(url: url), retry: fast)
                Issue.record("succeeded against a server that always fails")
            } catch let error as HTTPClientError {
                #expect(error.code == .retriesExhausted && error.message.contains("503") && error.lastStatus == 503)
            }
            #expect(counter.hits.withLock { $0 } == 4)  // 1 attempt + 3 retries
        }
    }

    @Test func aNonRetryableStatusIsAnsweredAtOnce() async throws {
        try await withFlakyServer(status: 400, retryAfter: nil, failures: 100) { url, counter in
            let response = try await HTTPClient().execute(HTTPClientRequest(url: url), retry: fast)
            #expect(response.status == 400)
            #expect(counter.hits.withLock { $0 } == 1)
        }
    }

    @Test func aTooLongRetryAfterEndsTheRetries() async throws {
        try await withFlakyServer(status: 429, retryAfter: "3600", failures: 100) { url, counter in
            await #expect(throws: HTTPClientError.self) { try await HTTPClient().execute(HTTPClientRequest(url: url), retry: fast) }
            #expect(counter.hits.withLock { $0 } == 1)
        }
    }

    @Test func networkErrorsAreRetriedToo() async throws {
        do {
            _ = try await HTTPClient().execute(HTTPClientRequest(url: "http://127.0.0.1:1/x"), retry: fast)
            Issue.record("connected to nothing")
        } catch let error as HTTPClientError {
            #expect(error.code == .retriesExhausted && error.message.contains("could_not_connect"))
        }
    }
}

/// The per-provider, per-workspace token bucket: queues rather than refuses, in arrival order.
/// Reservations are checked at chosen instants, so the arithmetic is exact whatever the machine does.
@Suite(.hangGuard) struct RateLimiterTests {
    static func milliseconds(_ wait: Duration?) -> Int? {
        wait.map { Int(($0 / .microseconds(1)).rounded() / 1000) }
    }

    @Test func burstPassesThenCallersQueueAtTheRate() {
        // 5 at once, then 20 a second (one every 50 ms).
        let limiter = RateLimiter(limits: ["gmail": .init(burst: 5, perSecond: 20)])
        let t0 = ContinuousClock.now
        let burst = (0..<5).map { _ in Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w1", at: t0)) }
        #expect(burst == [0, 0, 0, 0, 0])
        // Ten more wait their turn, in arrival order, none refused.
        let queued = (0..<10).map { _ in Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w1", at: t0)) }
        #expect(queued == [50, 100, 150, 200, 250, 300, 350, 400, 450, 500])
        // A second later the bucket has refilled what those ten took, and half a second more.
        #expect(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w1", at: t0 + .seconds(1))) == 0)
    }

    @Test func callsCostTheirUnits() {
        // Gmail: 250 units a second per user; messages.get costs 5, messages.send 100.
        let limiter = RateLimiter(limits: ["gmail": .init(burst: 250, perSecond: 250)])
        let t0 = ContinuousClock.now
        let gets = (0..<50).map { _ in Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "ana", cost: 5, at: t0)) }
        #expect(gets.allSatisfy { $0 == 0 })  // 50 × 5 = the whole second's 250
        #expect(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "ana", cost: 100, at: t0)) == 400)
        #expect(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "ana", cost: 5, at: t0)) == 420)
    }

    @Test func workspacesAndProvidersHaveTheirOwnBuckets() async throws {
        let limiter = RateLimiter(limits: ["gmail": .requests(2, per: .seconds(60))])
        let t0 = ContinuousClock.now
        #expect(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w1", at: t0)) == 0)
        #expect(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w1", at: t0)) == 0)
        #expect(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w2", at: t0)) == 0)  // its own burst
        #expect(limiter.reserve(provider: "stripe", workspace: "w1", at: t0) == nil)                   // no limit configured
        #expect(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w1", at: t0)) == 30_000)
        limiter.giveBack(provider: "gmail", workspace: "w1")

        // w1 is now 30 s from its next token: a waiter that gives up is cancelled, not served, and
        // its token goes back (the next caller waits 30 s, not 60).
        let waiter = Task { try await limiter.acquire(provider: "gmail", workspace: "w1") }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        let next = try #require(Self.milliseconds(limiter.reserve(provider: "gmail", workspace: "w1", at: .now)))
        #expect(next > 0 && next <= 30_000, "\(next) ms")
    }
}
