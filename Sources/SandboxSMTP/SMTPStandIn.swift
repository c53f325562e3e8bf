import Foundation
public import Hummingbird
public import Sandbox

/// Control routes of the capturing SMTP server: `GET /_sandbox/smtp/messages` (every captured
/// message: id, from, recipients, subject, data), `DELETE` to clear.
public struct SMTPStandIn: StandIn {
    public let name = "smtp"
    public let mailbox: Mailbox
    public let port: Int

    public init(mailbox: Mailbox, port: Int) {
        self.mailbox = mailbox
        self.port = port
    }

    public var startupSummary: String { "capturing SMTP server on 127.0.0.1:\(port) (accepts everything, no TLS, no auth)" }

    public func addRoutes(to group: RouterGroup<SandboxContext>) {}

    public func addControlRoutes(to group: RouterGroup<SandboxContext>) {
        let mailbox = self.mailbox
        group.get("messages") { _, _ in
            Response.json(.array(mailbox.all.map { m in
                ["id": .string(m.id), "from": .string(m.from), "recipients": .array(m.recipients.map { .string($0) }),
                 "subject": m.header("Subject").map { .string($0) } ?? .null, "data": .string(m.data),
                 "received_at": .int(Int64(m.receivedAt.timeIntervalSince1970))]
            }))
        }
        group.delete("messages") { _, _ in
            mailbox.clear()
            return Response(status: .noContent)
        }
    }
}
