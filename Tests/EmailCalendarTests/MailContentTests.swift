import CRM
import Cryptography
import EmailCalendar
import Foundation
import TestSupport
import Testing

/// Gmail `messages.get` (format `full`) payloads as Gmail shapes them, decoded: bodies in their
/// charsets, RFC 2047 headers, attachments, threading, direction and bulk mail.
@Suite(.hangGuard) struct MailContentTests {
    static func message(_ json: String) throws -> GmailMessage {
        try JSONDecoder().decode(GmailMessage.self, from: Data(json.utf8))
    }

    static func data(_ bytes: [UInt8]) -> String { Digest.base64URL(bytes) }

    /// `[{"name": …, "value": …}]` members, JSON-escaped.
    static func headers(_ pairs: [(String, String)]) -> String {
        pairs.map { pair in
            let object = ["name": pair.0, "value": pair.1]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }.joined(separator: ",")
    }

    static let owner = "ana@nexa-demo.test"

    @Test func aMultipartMessageDecodesItsBodiesHeadersAndAttachments() throws {
        let text = Self.data(Array("Hello Ana,\nwhat would 50 seats cost?\n".utf8))
        let html = Self.data([0x3C, 0x70, 0x3E, 0x43, 0x61, 0x66, 0xE9, 0x3C, 0x2F, 0x70, 0x3E])  // <p>Café</p> in ISO-8859-1
        let topHeaders = Self.headers([
            ("From", "=?UTF-8?B?QW5hIETDrWF6?= <Buyer.Person@Example.COM>"), ("To", "Ana <" + Self.owner + ">"),
            ("Cc", #"Bob <bob@example.com>, "Smith, Carol" <carol@example.com>"#),
            ("Subject", "=?ISO-8859-1?Q?Caf=E9_pricing?= =?UTF-8?Q?_for_2027?="),
            ("Message-ID", "<m2@example.com>"), ("In-Reply-To", "<m1@nexa-demo.test>"), ("References", "<m0@example.com> <m1@nexa-demo.test>"),
        ])
        let json = """
            {"id":"18c1","threadId":"18c0","labelIds":["INBOX","UNREAD"],"snippet":"Hello Ana, what would 50 seats cost?",
             "internalDate":"1767225600000","payload":{"partId":"","mimeType":"multipart/mixed","filename":"",
              "headers":[\(topHeaders)],
              "body":{"size":0},"parts":[
                {"partId":"0","mimeType":"multipart/alternative","filename":"","headers":[],"body":{"size":0},"parts":[
                  {"partId":"0.0","mimeType":"text/plain","filename":"","headers":[{"name":"Content-Type","value":"text/plain; charset=UTF-8"}],
                   "body":{"size":38,"data":"\(text)"}},
                  {"partId":"0.1","mimeType":"text/html","filename":"","headers":[{"name":"Content-Type","value":"text/html; charset=\\"iso-8859-1\\""}],
                   "body":{"size":11,"data":"\(html)"}}]},
                {"partId":"1","mimeType":"application/pdf","filename":"quote.pdf",
                 "headers":[{"name":"Content-Disposition","value":"attachment; filename=quote.pdf"}],"body":{"size":1234,"attachmentId":"ANGjdJ8"}}]}}
            """
        let mail = MailContent(try Self.message(json), owner: Self.owner)
        #expect(mail.direction == .inbound)
        #expect(mail.from == "buyer.person@example.com" && mail.fromName == "Ana Díaz")
        #expect(mail.to == [Self.owner] && mail.cc == ["bob@example.com", "carol@example.com"])
        #expect(mail.subject == "Café pricing for 2027")
        #expect(mail.text == "Hello Ana,\nwhat would 50 seats cost?\n")
        #expect(mail.html == "<p>Café</p>")
        #expect(mail.attachments == [.init(filename: "quote.pdf", mimeType: "application/pdf", size: 1234)])
        #expect(mail.messageID == "<m2@example.com>" && mail.inReplyTo == "<m1@nexa-demo.test>")
        #expect(mail.references == ["<m0@example.com>", "<m1@nexa-demo.test>"])
        #expect(mail.receivedAt == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(mail.source == "gmail" && mail.providerID == "18c1" && mail.threadID == "18c0" && !mail.isBulk)
    }

    @Test func sentMailIsOutboundAndWindows1252ReadsAsWindows1252() throws {
        let body = Self.data([0x93, 0x4F, 0x4B, 0x94, 0x20, 0x80, 0x35])  // “OK” €5
        let json = """
            {"id":"s1","threadId":"t1","labelIds":["SENT"],"payload":{"mimeType":"text/plain",
             "headers":[\(Self.headers([("From", Self.owner), ("To", "lead@prospect.test"), ("Subject", "Re: pricing"),
                                         ("Content-Type", "text/plain; charset=windows-1252")]))],
             "body":{"size":7,"data":"\(body)"}}}
            """
        let mail = MailContent(try Self.message(json), owner: Self.owner)
        #expect(mail.direction == .outbound && mail.from == Self.owner && mail.to == ["lead@prospect.test"])
        #expect(mail.text == "“OK” €5" && mail.html == nil)
        // From the owner without the SENT label (an import): outbound too.
        let imported = MailContent(try Self.message(json.replacingOccurrences(of: #"["SENT"]"#, with: #"["INBOX"]"#)), owner: Self.owner)
        #expect(imported.direction == .outbound)
    }

    @Test(arguments: [
        ("List-Unsubscribe", "<mailto:unsubscribe@news.example>", true),
        ("Precedence", "bulk", true),
        ("Precedence", "list", true),
        ("Auto-Submitted", "auto-replied", true),
        ("Auto-Submitted", "no", false),
        ("X-Mailer", "Thunderbird", false),
    ])
    func bulkAndAutomatedMailIsRecognised(header: String, value: String, bulk: Bool) throws {
        let json = """
            {"id":"b1","threadId":"b1","payload":{"mimeType":"text/plain",
             "headers":[\(Self.headers([("From", "news@example.com"), ("To", Self.owner), (header, value)]))],"body":{"size":0}}}
            """
        #expect(MailContent(try Self.message(json), owner: Self.owner).isBulk == bulk)
    }
}
