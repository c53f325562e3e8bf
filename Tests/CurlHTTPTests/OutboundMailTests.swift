import CurlHTTP
import Foundation
import TestSupport
import Testing

/// Messages the CRM composes: RFC 5322 headers, RFC 2047 words for non-ASCII subjects, bodies in
/// base64 lines, a text and an HTML alternative, threading headers.
@Suite(.hangGuard) struct OutboundMailTests {
    @Test func aComposedMessageKeepsEveryLineShortAndItsSubjectAndBodiesDecode() throws {
        let subject = "Angebot für Ihr Team — 12 Lizenzen, Preise und nächste Schritte 🚀 " + String(repeating: "é", count: 40)
        let text = "Hallo,\nhier ist das Angebot.\n" + String(repeating: "x", count: 500)
        let mail = OutboundMail.compose(from: "ana@nexa-demo.test", to: ["buyer@example.com"], cc: ["boss@example.com"], subject: subject,
                                        text: text, html: "<p>Hallo</p>", messageID: "<nexa.1@nexa-demo.test>",
                                        inReplyTo: "<a@x>", references: ["<z@x>", "<a@x>"])
        let message = String(decoding: mail.message, as: UTF8.self)
        #expect(mail.recipients == ["buyer@example.com", "boss@example.com"])
        #expect(!message.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "every line ends in CRLF")
        let lines = message.components(separatedBy: "\r\n")
        #expect(lines.filter { $0.utf8.count > 78 } == [])
        #expect(lines.contains("In-Reply-To: <a@x>") && lines.contains("References: <z@x> <a@x>") && lines.contains("Cc: boss@example.com"))

        // The subject: folded encoded words, each at most 75 characters, that decode to it.
        let start = try #require(lines.firstIndex { $0.hasPrefix("Subject: ") })
        var folded = [String(lines[start].dropFirst("Subject: ".count))]
        folded += lines[(start + 1)...].prefix { $0.hasPrefix(" ") }.map { String($0.dropFirst()) }
        #expect(folded.count > 1 && folded.allSatisfy { $0.count <= 75 && $0.hasPrefix("=?UTF-8?B?") && $0.hasSuffix("?=") })
        let decoded = folded.map { Data(base64Encoded: String($0.dropFirst(10).dropLast(2)))! }.reduce(Data(), +)
        #expect(String(decoding: decoded, as: UTF8.self) == subject)

        // Two alternatives, text first, each UTF-8 in base64.
        #expect(message.contains("Content-Type: multipart/alternative;\r\n boundary=\"nexa-"))
        let parts = lines.enumerated().filter { $0.element.hasPrefix("Content-Type: text/") }.map(\.element)
        #expect(parts == ["Content-Type: text/plain; charset=utf-8", "Content-Type: text/html; charset=utf-8"])
        let textStart = try #require(lines.firstIndex(of: "Content-Type: text/plain; charset=utf-8")) + 3
        let body = lines[textStart...].prefix { !$0.isEmpty && !$0.hasPrefix("--") }.joined()
        #expect(String(decoding: try #require(Data(base64Encoded: body)), as: UTF8.self) == text.replacingOccurrences(of: "\n", with: "\r\n"))

        // ASCII subjects stay as they are; an HTML-only message is one part.
        let plain = String(decoding: OutboundMail.compose(from: "a@x.test", to: ["b@x.test"], subject: "Hello", text: nil, html: "<b>hi</b>",
                                                          messageID: "<m@x.test>").message, as: UTF8.self)
        #expect(plain.contains("\r\nSubject: Hello\r\n") && plain.contains("Content-Type: text/html; charset=utf-8") && !plain.contains("multipart"))
    }
}
