public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A capturing SMTP server: accepts every message (no relay, no TLS, no auth) into a `Mailbox`.
/// A `Service`: runs until graceful shutdown.
public final class SMTPServer: Service, Sendable {
    public let host: String
    public let port: Int
    public let mailbox: Mailbox
    private let logger: Logger
    private let bound = Mutex<SocketAddress?>(nil)

    public init(host: String = "127.0.0.1", port: Int, mailbox: Mailbox, logger: Logger) {
        self.host = host
        self.port = port
        self.mailbox = mailbox
        self.logger = logger
    }

    /// The listening address once running (port 0 resolved).
    public var localAddress: SocketAddress? { bound.withLock { $0 } }

    public func run() async throws {
        let mailbox = self.mailbox
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SMTPHandler(mailbox: mailbox))
                }
            }
            .bind(host: host, port: port).get()
        bound.withLock { $0 = channel.localAddress }
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Splits input into CRLF (or LF) lines and runs the session; writes its replies.
final class SMTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var session = SMTPSession(hostname: "nexa-sandbox.local")
    private var pending = ByteBuffer()
    private let mailbox: Mailbox
    /// A line longer than this without an end is refused (RFC 5321 allows 1,000 with CRLF).
    private let maximumLine = 8 * 1024

    init(mailbox: Mailbox) { self.mailbox = mailbox }

    func channelActive(context: ChannelHandlerContext) {
        write(session.greeting, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            var line = pending.readString(length: length) ?? ""
            pending.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            switch session.receive(line) {
            case .reply(let text): write(text, context: context)
            case .deliver(let from, let recipients, let data):
                let id = mailbox.deliver(from: from, recipients: recipients, data: data)
                write("250 2.0.0 OK queued as \(id)", context: context)
            case .close(let text):
                write(text, context: context)
                context.close(promise: nil)
                return
            case .none: break
            }
        }
        if pending.readableBytes > maximumLine {
            write("500 5.5.6 Line too long", context: context)
            context.close(promise: nil)
        }
        pending.discardReadBytes()
    }

    private func write(_ text: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }
}
