import CurlHTTP
import Foundation
import Gateway
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The public HTTP server against clients that hold it: trickling heads and bodies are cut off and
/// idle keep-alive connections closed, while ordinary deliveries go on.
@Suite(.hangGuard) struct ConnectionLimitsTests {
    /// A raw TCP connection to the gateway.
    struct RawClient: Sendable {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        /// What `trickle` returns when the server reset the connection.
        static let reset = "(connection reset)"

        static func connect(_ base: String) async throws -> RawClient {
            let port = Int(base.split(separator: ":").last!)!
            return RawClient(channel: try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                })
        }

        /// Writes `text` a byte at a time, `pause` apart, until the server closes the connection
        /// (or `text` ends); returns everything the server sent before closing.
        func trickle(_ text: String, pause: Duration) async throws -> String {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: String?.self) { group in
                    group.addTask {
                        var received = ByteBuffer()
                        do {
                            for try await var chunk in inbound { received.writeBuffer(&chunk) }
                        } catch let error as IOError where error.errnoCode == ECONNRESET {
                            // Bytes written after the server closed draw a reset, which may discard
                            // its answer before it is read: the connection was cut all the same.
                            return Self.reset
                        }
                        return String(buffer: received)
                    }
                    group.addTask {
                        do {
                            for byte in text.utf8 {
                                try await outbound.write(ByteBuffer(bytes: [byte]))
                                try await Task.sleep(for: pause)  // the slow client under test, not a wait for a state
                            }
                        } catch {
                            // A write refused because the server closed: the reader returns what it sent.
                        }
                        return nil
                    }
                    while let result = try await group.next() {
                        if let received = result { group.cancelAll(); return received }
                    }
                    return ""
                }
            }
        }

        /// The first line of `response` ("\r\n" is one `Character`).
        static func statusLine(_ response: String) -> String {
            String(response.split(separator: "\r\n", maxSplits: 1).first ?? "")
        }

        /// Sends `request` whole and returns the first response's status line once it arrives,
        /// leaving the connection open; a server that answers nothing in 30 s fails the test by name.
        func exchange(_ request: String, inbound: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
                      outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> String {
            try await outbound.write(ByteBuffer(string: request))
            let channel = self.channel.channel
            let timer = channel.eventLoop.scheduleTask(in: .seconds(30)) { channel.close(promise: nil) }
            defer { timer.cancel() }
            var received = ByteBuffer()
            while !String(buffer: received).contains("\r\n\r\n"), var chunk = try await inbound.next() { received.writeBuffer(&chunk) }
            guard String(buffer: received).contains("\r\n\r\n") else { throw NoAnswer(request: request) }
            return Self.statusLine(String(buffer: received))
        }

        struct NoAnswer: Error { var request: String }
    }

    static let healthz = "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"

    @Test func tricklingHeadsAndBodiesAreCutOffAndDeliveriesGoOn() async throws {
        var limits = ConnectionLimits()
        limits.headTimeout = .seconds(1)
        limits.bodyTimeout = .seconds(1)
        limits.minimumBodyRate = 1_000_000
        try await GatewayHarness.with(limits: limits) { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .stripe, secret: "whsec_test")
            let path = "/webhooks/stripe/\(endpoint.endpoint.id)"
            let slowHead = try await RawClient.connect(h.base)
            let slowBody = try await RawClient.connect(h.base)
            // One byte every 300 ms, for up to 30 s: only the server's deadline ends them.
            async let head = slowHead.trickle("POST \(path) HTTP/1.1\r\nHost: gateway\r\n" + String(repeating: "X-Slow: y\r\n", count: 10), pause: .milliseconds(300))
            async let body = slowBody.trickle("POST \(path) HTTP/1.1\r\nHost: gateway\r\nContent-Length: 100\r\n\r\n" + String(repeating: "z", count: 100),
                                              pause: .milliseconds(300))
            let event = #"{"id":"evt_ok","object":"event","type":"invoice.paid"}"#
            let delivered = try await h.post(path, headers: [("Stripe-Signature", WebhookIngressTests.stripeHeader(secret: "whsec_test", body: event))], text: event)
            #expect(delivered.status == 200, "an ordinary delivery is served beside them")
            // Cut off: answered 408 and closed (or reset, when a byte crossed the close).
            let (cutHead, cutBody) = (try await head, try await body)
            #expect(cutHead.hasPrefix("HTTP/1.1 408") || cutHead == RawClient.reset, "a head that trickles in is cut off: \(cutHead)")
            #expect(cutBody.hasPrefix("HTTP/1.1 408") || cutBody == RawClient.reset, "a body that trickles in is cut off: \(cutBody)")
            #expect(try await h.stored().map(\.eventID) == ["evt_ok"])
        }
    }

    @Test func aBodyArrivingAtTheMinimumRateIsNotCutOff() async throws {
        var limits = ConnectionLimits()
        limits.bodyTimeout = .seconds(3)
        limits.minimumBodyRate = 2  // each byte earns half a second
        try await GatewayHarness.with(limits: limits) { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .stripe, secret: "whsec_test")
            let event = #"{"id":"evt_slow_but_fair","object":"event","type":"invoice.paid"}"#
            let request = WebhookChannelHandlerTests.stripePost("/webhooks/stripe/\(endpoint.endpoint.id)", body: event, secret: "whsec_test", close: true)
            let head = String(request[..<request.range(of: "\r\n\r\n")!.upperBound])
            // About 7 s of body, past the 3 s timeout, at 10 bytes a second: above the minimum rate.
            let client = try await RawClient.connect(h.base)
            let answer = try await client.channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: head))
                for byte in event.utf8 {
                    try await outbound.write(ByteBuffer(bytes: [byte]))
                    try await Task.sleep(for: .milliseconds(100))  // the slow client under test
                }
                var received = ByteBuffer()
                for try await var chunk in inbound { received.writeBuffer(&chunk) }
                return String(buffer: received)
            }
            #expect(RawClient.statusLine(answer) == "HTTP/1.1 200 OK")
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosed() async throws {
        var limits = ConnectionLimits()
        limits.idleTimeout = .seconds(1)
        try await GatewayHarness.with(limits: limits) { h in
            let client = try await RawClient.connect(h.base)
            let (status, closed) = try await client.channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                let status = try await client.exchange(Self.healthz, inbound: &iterator, outbound: outbound)
                while try await iterator.next() != nil {}  // ends only when the server closes the idle connection
                return (status, true)
            }
            #expect(status == "HTTP/1.1 200 OK" && closed)
        }
    }

    @Test func connectionsOverTheCapAreRefusedAtOnceAndServedAgainWhenOnesClose() async throws {
        var limits = ConnectionLimits()
        limits.maximumConnections = 3
        try await GatewayHarness.with(limits: limits) { h in
            /// A new connection's health check: "HTTP/1.1 200 OK", the refusal's status line, or ""
            /// when the refusal's close cut the connection before the request was written or the
            /// answer read (a reset, a closed channel); `body` runs while a served one is held open.
            func healthCheck(_ body: () async throws -> Void = {}) async throws -> String {
                let client = try await RawClient.connect(h.base)
                return try await client.channel.executeThenClose { inbound, outbound in
                    var iterator = inbound.makeAsyncIterator()
                    let status: String
                    do {
                        status = try await client.exchange(Self.healthz, inbound: &iterator, outbound: outbound)
                    } catch let error as IOError where error.errnoCode == ECONNRESET || error.errnoCode == EPIPE {
                        return ""
                    } catch ChannelError.ioOnClosedChannel {
                        return ""
                    } catch is RawClient.NoAnswer {
                        return ""
                    }
                    if status == "HTTP/1.1 200 OK" { try await body() }
                    return status
                }
            }
            /// Holds served keep-alive connections open until one is refused, then runs `atCap`;
            /// returns how many were served.
            func fill(_ served: Int = 0, atCap: () async throws -> Void) async throws -> Int {
                guard served < 10 else { return served }
                var total = served
                let status = try await healthCheck { total = try await fill(served + 1, atCap: atCap) }
                if status != "HTTP/1.1 200 OK" { try await atCap() }
                return status == "HTTP/1.1 200 OK" ? total : served
            }
            // The test harness's own HTTP client may hold one of the three.
            let served = try await fill {
                // At the cap: a new connection is answered without asking, and closed.
                let client = try await RawClient.connect(h.base)
                let answer = try await client.channel.executeThenClose { inbound, _ in
                    var received = ByteBuffer()
                    for try await var chunk in inbound { received.writeBuffer(&chunk) }
                    return String(buffer: received)
                }
                #expect(RawClient.statusLine(answer) == "HTTP/1.1 503 Service Unavailable" && answer.contains("Retry-After: 1"))
            }
            #expect(served >= 2 && served <= 3, "connections served before the cap: \(served)")
            // Ours are closed now: a new connection is served once the server has seen them go.
            try await Wait.until("a new connection is served after the others closed") {
                try await healthCheck() == "HTTP/1.1 200 OK"
            }
        }
    }
}
