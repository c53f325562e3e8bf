@testable import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Synchronization
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

@Suite struct HTTPClientTests {
    final class Connections: Sendable { let remotes = Mutex<Set<String>>([]) }

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
            try await Task.sleep(for: .seconds(10))
            return Response(status: .ok)
        }
        router.get("missing") { _, _ in Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "nope"))) }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in
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
            let http = HTTPClient()
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 { group.addTask { try await http.execute(HTTPClientRequest(url: base + "/hello")).status } }
                for try await status in group { #expect(status == 200) }
            }
            #expect(start.duration(to: .now) < .seconds(10))
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
        try await withServer { base, _ in
            let http = HTTPClient()
            let start = ContinuousClock.now
            let transfer = Task { try await http.execute(HTTPClientRequest(url: base + "/slow"), timeout: .seconds(30)) }
            try await Task.sleep(for: .milliseconds(200))
            transfer.cancel()
            await expect(.cancelled) { try await transfer.value }
            // The endpoint takes 10 s: ending well before proves the abort, even on a loaded machine.
            #expect(start.duration(to: .now) < .seconds(6))
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

@Suite struct RetryPolicyTests {
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

@Suite struct RetryTests {
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
                #expect(error.code == .retriesExhausted && error.message.contains("503"))
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
        let start = ContinuousClock.now
        do {
            _ = try await HTTPClient().execute(HTTPClientRequest(url: "http://127.0.0.1:1/x"), retry: fast)
            Issue.record("connected to nothing")
        } catch let error as HTTPClientError {
            #expect(error.code == .retriesExhausted && error.message.contains("could_not_connect"))
        }
        #expect(start.duration(to: .now) < .seconds(10))
    }
}

/// The per-provider, per-workspace token bucket: queues rather than refuses, in arrival order.
@Suite struct RateLimiterTests {
    @Test func burstPassesThenCallersQueueAtTheRate() async throws {
        // 5 at once, then 20 a second (one every 50 ms).
        let limiter = RateLimiter(limits: ["gmail": .init(burst: 5, perSecond: 20)])
        let start = ContinuousClock.now
        for _ in 0..<5 { try await limiter.acquire(provider: "gmail", workspace: "w1") }
        #expect(start.duration(to: .now) < .milliseconds(200))  // waiting for tokens would take 250 ms
        // Ten more wait their turn: about 10 × 50 ms, none refused.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { try await limiter.acquire(provider: "gmail", workspace: "w1") } }
            try await group.waitForAll()
        }
        let elapsed = start.duration(to: .now)
        #expect(elapsed >= .milliseconds(450), "\(elapsed)")
        #expect(elapsed < .seconds(10), "\(elapsed)")  // queued, not stuck
    }

    @Test func workspacesAndProvidersHaveTheirOwnBuckets() async throws {
        let limiter = RateLimiter(limits: ["gmail": .requests(2, per: .seconds(60))])
        try await limiter.acquire(provider: "gmail", workspace: "w1")
        try await limiter.acquire(provider: "gmail", workspace: "w1")
        let start = ContinuousClock.now
        try await limiter.acquire(provider: "gmail", workspace: "w2")          // another workspace: its own burst
        for _ in 0..<50 { try await limiter.acquire(provider: "stripe", workspace: "w1") }  // no limit configured
        #expect(start.duration(to: .now) < .seconds(2))  // sharing w1's bucket would mean a 30 s wait
        // w1 is now 30 s from its next token: a waiter that gives up is cancelled, not served.
        let waiter = Task { try await limiter.acquire(provider: "gmail", workspace: "w1") }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}
