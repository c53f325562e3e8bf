import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Serves webhook deliveries — `GET` and `POST /webhooks/<provider>/<endpoint id>` — on the
/// connection's event loop, ahead of Hummingbird's router, which serves every other route.
///
/// Installed in Hummingbird's HTTP/1 pipeline (`HTTP1Channel`'s additional handlers, after NIO's
/// HTTP codec), so the server, parsing and connection handling stay Hummingbird's and NIO's. What
/// it saves is the async request path: an async channel stream, a task per request and the hops
/// between the event loop and the task pool cost about as much CPU as everything else a delivery
/// needs. A delivery here is collected, handed to `WebhookIngress` (which verifies it inline when
/// it can) and answered from the inbox's commit callback.
///
/// Requests are answered in order. While one is being answered, the next request on the
/// connection — a delivery or anything else — waits here, and reading pauses.
final class WebhookChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The request whose parts are arriving.
    private enum Current {
        /// A delivery being collected.
        case delivery(Delivery)
        /// A delivery already answered (its body was too large): the rest is dropped.
        case discarding
        /// Another route's request, passed on to Hummingbird.
        case passedOn
    }

    private struct Delivery {
        var provider: String
        var endpointID: String
        var method: String
        var headers: [String: String]
        var query: [String: String]
        var closeAfterwards: Bool
        var body: ByteBuffer?
    }

    /// Whose response is being written for the last request.
    private enum Answering {
        case delivery
        case passedOn
    }

    private let ingress: WebhookIngress
    private let maximumBodySize: Int
    private var current: Current?
    private var answering: Answering?
    /// Requests that arrived while the one before was being answered, in order.
    private var held = CircularBuffer<HTTPRequestPart>()
    private var readPending = false
    /// A quiesce event that arrived while a delivery was being answered, passed on afterwards.
    private var quiescePending = false
    /// A parse error behind requests still to be answered: Hummingbird answers it (400, close) after them.
    private var heldError: (any Error)?
    private var isActive = true

    init(ingress: WebhookIngress, maximumBodySize: Int) {
        self.ingress = ingress
        self.maximumBodySize = maximumBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if held.isEmpty, !mustWait(part) {
            process(part, context: context)
        } else {
            held.append(part)
        }
    }

    /// A new request waits until the last one is answered.
    private func mustWait(_ part: HTTPRequestPart) -> Bool {
        if case .head = part { answering != nil } else { false }
    }

    private func process(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (part, current) {
        case (.head(let head), _):
            if let delivery = Self.delivery(head) {
                answering = .delivery
                guard WebhookEndpoints.isWellFormed(id: delivery.endpointID) else {
                    // No endpoint has such an id: answered at once, the body is not kept.
                    current = .discarding
                    return answer(WebhookIngress.unknownEndpoint, closing: delivery.closeAfterwards, context: context)
                }
                current = .delivery(delivery)
            } else {
                answering = .passedOn
                current = .passedOn
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.body(var chunk), .delivery(var delivery)):
            if (delivery.body?.readableBytes ?? 0) + chunk.readableBytes > maximumBodySize {
                current = .discarding
                answer(WebhookIngress.reply(413, "the body is larger than \(maximumBodySize) bytes"), closing: delivery.closeAfterwards,
                       context: context)
            } else {
                if delivery.body == nil { delivery.body = chunk } else { delivery.body!.writeBuffer(&chunk) }
                current = .delivery(delivery)
            }
        case (.end, .delivery(let delivery)):
            current = nil
            receive(delivery, context: context)
        case (.end, .discarding):
            current = nil
        case (.body, .discarding):
            break
        case (_, .passedOn), (_, nil):
            if case .end = part { current = nil }
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// The delivery a request head starts, or nil when it is for another route.
    private static func delivery(_ head: HTTPRequest) -> Delivery? {
        guard head.method == .post || head.method == .get, let target = head.path, target.hasPrefix("/webhooks/") else { return nil }
        let uri = URI(target)
        let segments = uri.path.split(separator: "/")
        guard segments.count == 3 else { return nil }
        var headers: [String: String] = [:]
        for field in head.headerFields {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        return Delivery(provider: String(segments[1]), endpointID: String(segments[2]), method: head.method.rawValue, headers: headers,
                        query: uri.queryDictionary, closeAfterwards: headers["connection"]?.lowercased() == "close")
    }

    private func receive(_ delivery: Delivery, context: ChannelHandlerContext) {
        let request = WebhookRequest(method: delivery.method, headers: delivery.headers, query: delivery.query,
                                     body: delivery.body.map { Array(buffer: $0) } ?? [])
        let loop = context.eventLoop
        let handler = NIOLoopBound((self, context), eventLoop: loop)
        let source = context.channel.remoteAddress?.ipAddress ?? "unknown"
        ingress.receive(provider: delivery.provider, endpointID: delivery.endpointID, request: request, source: source) { reply in
            if loop.inEventLoop {
                handler.value.0.answer(reply, closing: delivery.closeAfterwards, context: handler.value.1)
            } else {
                loop.execute { handler.value.0.answer(reply, closing: delivery.closeAfterwards, context: handler.value.1) }
            }
        }
    }

    /// Writes a delivery's answer, then takes up what waited behind it.
    private func answer(_ reply: WebhookIngress.Reply, closing: Bool, context: ChannelHandlerContext) {
        guard isActive else { return }
        let body = ByteBuffer(string: reply.body)
        // nosniff: a body that echoes input (Graph's validationToken) is never read as a page.
        var fields: HTTPFields = [.contentType: reply.contentType, .contentLength: String(body.readableBytes), .xContentTypeOptions: "nosniff"]
        if closing { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .init(code: reply.status), headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if closing { return context.close(promise: nil) }
        answered(context: context)
    }

    /// The last request's response is written: the requests held behind it go on, in order.
    private func answered(context: ChannelHandlerContext) {
        answering = nil
        var replayed = false
        while let part = held.first, !mustWait(part) {
            held.removeFirst()
            process(part, context: context)
            replayed = true
        }
        // Outside a read, what was passed on stays buffered downstream until a read completes.
        if replayed { context.fireChannelReadComplete() }
        if held.isEmpty, answering == nil, let error = heldError {
            heldError = nil
            context.fireErrorCaught(error)
        }
        if quiescePending, answering != .delivery {
            quiescePending = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        if held.isEmpty, readPending {
            readPending = false
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if answering == .delivery || !held.isEmpty {
            heldError = heldError ?? error
        } else {
            context.fireErrorCaught(error)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if isEnd, answering == .passedOn { answered(context: context) }
    }

    func read(context: ChannelHandlerContext) {
        if held.isEmpty { context.read() } else { readPending = true }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Hummingbird closes an idle connection on quiesce; a delivery being answered is ours to finish first.
        if event is ChannelShouldQuiesceEvent, answering == .delivery {
            quiescePending = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        isActive = false
    }
}

extension URI {
    /// Every query parameter in order, repeated names kept (`map=…&map=…`).
    var queryPairs: [(String, String)] {
        queryParameters.map { (String($0.key), String($0.value)) }
    }

    /// The query parameters by name, the last value of a repeated name winning.
    var queryDictionary: [String: String] {
        Dictionary(queryPairs, uniquingKeysWith: { _, last in last })
    }
}
