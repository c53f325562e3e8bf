import Foundation
import Gateway
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The webhook handler in the HTTP pipeline, seen from raw TCP: pipelined requests answered in
/// order whichever route serves them, oversized bodies, `Connection: close`, and paths that are
/// not deliveries reaching Hummingbird's router.
@Suite(.hangGuard) struct WebhookChannelHandlerTests {
    /// One HTTP/1.1 response as read off the wire.
    struct Response: Equatable {
        var status: Int
        var body: String
    }

    /// Writes `requests` on one connection in a single write and reads until the server closes it.
    static func exchange(_ requests: [String], base: String) async throws -> [Response] {
        let port = Int(base.split(separator: ":").last!)!
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        let received = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: requests.joined()))
            var bytes = ByteBuffer()
            for try await var chunk in inbound { bytes.writeBuffer(&chunk) }
            return bytes
        }
        return try parse(String(buffer: received))
    }

    /// Splits a stream of `Content-Length` framed responses.
    static func parse(_ text: String) throws -> [Response] {
        var responses: [Response] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            let headEnd = try #require(rest.range(of: "\r\n\r\n"))
            let head = rest[..<headEnd.lowerBound].split(separator: "\r\n")
            let status = try #require(Int(head[0].split(separator: " ")[1]))
            let length = head.dropFirst().compactMap { line -> Int? in
                let parts = line.split(separator: ":", maxSplits: 1)
                return parts[0].lowercased() == "content-length" ? Int(parts[1].trimmingCharacters(in: .whitespaces)) : nil
            }.first ?? 0
            let bodyStart = headEnd.upperBound
            let bodyEnd = rest.utf8.index(bodyStart, offsetBy: length)
            responses.append(Response(status: status, body: String(rest[bodyStart..<bodyEnd])))
            rest = rest[bodyEnd...]
        }
        return responses
    }

    /// A POST of `body` signed as Stripe signs with `secret`.
    static func stripePost(_ path: String, body: String, secret: String, close: Bool = false) -> String {
        "POST \(path) HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Stripe-Signature: \(WebhookIngressTests.stripeHeader(secret: secret, body: body))\r\n"
            + (close ? "Connection: close\r\n" : "") + "\r\n" + body
    }

    static func get(_ path: String, close: Bool = false) -> String {
        "GET \(path) HTTP/1.1\r\nHost: gateway\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n"
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAcrossRoutes() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .stripe, secret: "whsec_pipe")
            let path = "/webhooks/stripe/\(endpoint.endpoint.id)"
            func event(_ id: String) -> String { #"{"id":"\#(id)","object":"event","type":"invoice.paid"}"# }
            let big = String(repeating: "x", count: 70 * 1024)
            let responses = try await Self.exchange([
                // The first delivery waits for the endpoint lookup and the commit; everything behind it waits too.
                Self.stripePost(path, body: event("evt_p1"), secret: "whsec_pipe"),
                Self.get("/healthz"),
                Self.stripePost(path, body: event("evt_p2"), secret: "whsec_wrong"),
                Self.stripePost(path, body: big, secret: "whsec_pipe"),
                Self.stripePost(path, body: event("evt_p3"), secret: "whsec_pipe"),
                Self.get("/webhooks/stripe"),
                Self.get("/healthz", close: true),
            ], base: h.base)
            #expect(responses.map(\.status) == [200, 200, 401, 413, 200, 404, 200])
            #expect(responses[0].body == #"{"message":"accepted"}"#)
            #expect(responses[1].body == "ok\n")
            #expect(responses[2].body.contains("no v1 signature matches"))
            #expect(responses[3].body.contains("larger than \(64 * 1024) bytes"))
            #expect(try await h.stored().map(\.eventID) == ["evt_p1", "evt_p3"])
        }
    }

    @Test func connectionCloseEndsTheConnectionAfterTheDelivery() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .stripe, secret: "whsec_close")
            let body = #"{"id":"evt_c1","object":"event","type":"invoice.paid"}"#
            // The request behind the closing one is never answered: the server closes first.
            let responses = try await Self.exchange([
                Self.stripePost("/webhooks/stripe/\(endpoint.endpoint.id)", body: body, secret: "whsec_close", close: true),
                Self.get("/healthz"),
            ], base: h.base)
            #expect(responses == [Response(status: 200, body: #"{"message":"accepted"}"#)])
            #expect(try await h.stored().map(\.eventID) == ["evt_c1"])
        }
    }

    @Test func aMalformedRequestBehindADeliveryIsRefusedAfterIt() async throws {
        try await GatewayHarness.with { h in
            let endpoint = try await h.endpoints.create(workspaceID: h.workspace, provider: .stripe, secret: "whsec_bad")
            let body = #"{"id":"evt_m1","object":"event","type":"invoice.paid"}"#
            let responses = try await Self.exchange([
                Self.stripePost("/webhooks/stripe/\(endpoint.endpoint.id)", body: body, secret: "whsec_bad"),
                "NOT HTTP AT ALL\r\n\r\n",
            ], base: h.base)
            #expect(responses.map(\.status) == [200, 400])
            #expect(try await h.stored().map(\.eventID) == ["evt_m1"])
        }
    }
}
