import CurlHTTP
import Logging
import NIOCore
@testable import SandboxSMTP
import ServiceLifecycle
import TestSupport
import Testing

@Suite(.hangGuard) struct SMTPSessionTests {
    @Test func aWholeConversation() {
        var s = SMTPSession(hostname: "h")
        #expect(s.greeting.hasPrefix("220 "))
        #expect(s.receive("MAIL FROM:<a@x>") == .reply("503 5.5.1 Send EHLO first"))
        guard case .reply(let ehlo) = s.receive("EHLO client") else { Issue.record("no EHLO reply"); return }
        #expect(ehlo.hasPrefix("250-h") && ehlo.contains("SIZE"))
        #expect(s.receive("RCPT TO:<b@x>") == .reply("503 5.5.1 Need MAIL before RCPT"))
        #expect(s.receive("MAIL FROM:<a@x> SIZE=100") == .reply("250 2.1.0 OK"))
        #expect(s.receive("DATA") == .reply("503 5.5.1 Need RCPT before DATA"))
        #expect(s.receive("RCPT TO:<b@x>") == .reply("250 2.1.5 OK"))
        #expect(s.receive("RCPT TO:<c@x>") == .reply("250 2.1.5 OK"))
        #expect(s.receive("DATA") == .reply("354 End data with <CR><LF>.<CR><LF>"))
        #expect(s.receive("Subject: hi") == .none)
        #expect(s.receive("") == .none)
        #expect(s.receive("..leading dot") == .none)
        #expect(s.receive(".") == .deliver(from: "a@x", recipients: ["b@x", "c@x"], data: "Subject: hi\r\n\r\n.leading dot\r\n"))
        #expect(s.receive("MAIL FROM:bad") == .reply("501 5.5.4 Syntax: MAIL FROM:<address>"))
        #expect(s.receive("FOO") == .reply("502 5.5.2 Command not recognized"))
        #expect(s.receive("QUIT") == .close("221 2.0.0 Bye"))
    }
}

@Suite(.hangGuard) struct SMTPDeliveryTests {
    @Test func libcurlMailArrivesInTheMailbox() async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let mailbox = Mailbox()
        let server = SMTPServer(port: 0, mailbox: mailbox, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await Wait.value("the SMTP server is listening") { server.localAddress?.port }
            let http = HTTPClient()
            let body = "Your import finished: 10,000 rows.\n.\n..two dots\nBye"
            try await http.sendMail(
                .text(from: "noreply@nexa.test", to: ["ana@example.com", "bob@example.com"], subject: "Import complete", body: body),
                via: MailServer(url: "smtp://127.0.0.1:\(port)"))
            let message = try #require(mailbox.all.first)
            #expect(message.from == "noreply@nexa.test")
            #expect(message.recipients == ["ana@example.com", "bob@example.com"])
            #expect(message.header("subject") == "Import complete")
            #expect(message.header("Content-Type") == "text/plain; charset=utf-8")
            // Lines that start with a dot survive SMTP's dot-stuffing both ways.
            #expect(message.body == "Your import finished: 10,000 rows.\r\n.\r\n..two dots\r\nBye\r\n")

            do {
                try await http.sendMail(.text(from: "a@x", to: ["b@x"], subject: "s", body: "b"), via: MailServer(url: "smtp://127.0.0.1:1"))
                Issue.record("sent to nothing")
            } catch let error as HTTPClientError {
                #expect(error.code == .couldNotConnect)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
