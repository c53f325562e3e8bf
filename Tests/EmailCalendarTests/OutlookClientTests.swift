import CRM
import CurlHTTP
import EmailCalendar
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Sandbox
import SandboxMicrosoft
import TestSupport
import Testing

/// The Outlook client against the Graph stand-in, over real HTTP: delta rounds followed by their
/// links and decoded as the sync decodes mail, a forgotten delta token, sendMail with our
/// Message-ID coming back in Sent Items, and Graph's errors as the sync's failures.
@Suite(.hangGuard) struct OutlookClientTests {
    static func withOutlook(_ body: @escaping @Sendable (_ client: OutlookClient, _ control: @escaping @Sendable (String, String) async throws -> [String: Any]) async throws -> Void) async throws {
        let app = SandboxApp.build(standIns: [try MicrosoftStandIn()], port: 0, journal: Journal(), faults: Faults(),
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { c in
            let base = "http://127.0.0.1:\(c.port!)"
            let http = HTTPClient()
            @Sendable func control(_ path: String, _ json: String) async throws -> [String: Any] {
                let response = try await http.execute(.json(base + (path.hasPrefix("/faults") ? "/_sandbox" : "/_sandbox/microsoft") + path, Array(json.utf8)))
                return (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? ["status": response.status]
            }
            let token = try #require(try await control("/access-token", "{}")["access_token"] as? String)
            try await body(OutlookClient(http: http, baseURL: base + "/microsoft/graph/v1.0") { token }, control)
        }
    }

    @Test func deltaRoundsDecodeAsTheSyncReadsMailAndSentMailComesBackWithOurMessageID() async throws {
        try await Self.withOutlook { outlook, control in
            let first = try await control("/mail/deliver", #"{"from": "buyer@example.com", "from_name": "Bea Buyer", "subject": "Renewal", "html": "<p>Shall we renew?</p>"}"#)
            _ = try await control("/mail/deliver", #"{"from": "news@vendor.example", "subject": "News", "text": "x", "headers": {"List-Unsubscribe": "<mailto:u@vendor.example>"}}"#)
            _ = try await control("/mail/deliver", #"{"from": "buyer@example.com", "subject": "Re: Renewal", "text": "And another thing.", "reply_to": "\#(first["id"] as! String)"}"#)

            // A round, two messages a page, followed by its links.
            var page = try await outlook.delta(folder: "inbox", since: Date().addingTimeInterval(-86_400), pageSize: 2)
            var messages = page.messages
            var pages = 1
            while let next = page.nextLink {
                page = try await outlook.delta(link: next, pageSize: 2)
                messages += page.messages
                pages += 1
            }
            #expect(pages == 2 && messages.count == 3)
            let deltaLink = try #require(page.deltaLink)
            let mails = messages.map { MailContent($0, owner: "ana@nexa-demo.test", sentItemsFolderID: nil) }
            let renewal = try #require(mails.first { $0.subject == "Renewal" })
            #expect(renewal.source == "outlook" && renewal.from == "buyer@example.com" && renewal.fromName == "Bea Buyer" && renewal.direction == .inbound)
            #expect(renewal.html == "<p>Shall we renew?</p>" && renewal.text == nil && renewal.snippet == "Shall we renew?" && !renewal.isBulk)
            #expect(mails.first { $0.subject == "News" }?.isBulk == true)
            let reply = try #require(mails.first { $0.subject == "Re: Renewal" })
            #expect(reply.threadID == renewal.threadID && reply.inReplyTo == renewal.messageID && reply.text == "And another thing.")

            // The next round: only what is new; a forgotten token is a cursor to start again from.
            _ = try await control("/mail/deliver", #"{"from": "lead@prospect.test", "subject": "Pricing", "text": "?"}"#)
            let next = try await outlook.delta(link: deltaLink)
            #expect(next.messages.map(\.subject) == ["Pricing"] && next.deltaLink != nil)
            _ = try await control("/mail/expire-delta", "{}")
            await #expect(throws: ProviderFailure.cursorExpired) { _ = try await outlook.delta(link: try #require(next.deltaLink)) }

            // Sent with our Message-ID: the copy in Sent Items carries it, and reads as outbound.
            try await outlook.sendMail([
                "subject": "Proposal", "body": ["contentType": "Text", "content": "Here it is."], "internetMessageId": "<nexa.1@nexa-demo.test>",
                "toRecipients": [["emailAddress": ["address": "buyer@example.com"]]],
            ])
            let sent = try await outlook.delta(folder: "sentitems", since: Date().addingTimeInterval(-60)).messages
            let copy = MailContent(try #require(sent.first), owner: "ana@nexa-demo.test", sentItemsFolderID: sent.first?.parentFolderId)
            #expect(copy.messageID == "<nexa.1@nexa-demo.test>" && copy.direction == .outbound && copy.to == ["buyer@example.com"])

            // Graph's errors as the sync's failures: throttled through every retry (Graph's shape,
            // Retry-After honoured) is a rate limit.
            _ = try await control("/faults", #"{"provider": "microsoft", "pathPrefix": "/graph/", "status": 429, "retryAfter": 0, "times": 4}"#)
            let throttled = await #expect(throws: ProviderFailure.self) { _ = try await outlook.message(id: "AAMkAGI2nothing") }
            if case .rateLimited = throttled {} else { Issue.record("throttled through every retry reads as \(String(describing: throttled))") }
            #expect(try await outlook.message(id: "AAMkAGI2nothing") == nil)
            await #expect(throws: ProviderFailure.self) { try await outlook.sendMail(["subject": "nobody"]) }
            let stranger = OutlookClient(http: HTTPClient(), baseURL: "http://127.0.0.1:1/graph/v1.0") { "t" }
            await #expect(throws: ProviderFailure.self) { _ = try await stranger.message(id: "x") }
        }
    }
}
