import CurlHTTP
import EmailCalendar
import Foundation
import TestSupport
import Testing

/// The Google stand-in's scenario mail, read back through the Gmail API and decoded as the sync
/// decodes it: a charset other than UTF-8, text and HTML, an attachment, bulk headers, and a reply
/// that joins its thread.
@Suite(.hangGuard) struct ScenarioMailTests {
    @Test func scenarioMailDecodesAsItWasWritten() async throws {
        try await MailboxSyncTests.withGoogle { google in
            let token = try await google.token()
            let gmail = GmailClient(http: google.http, baseURL: google.base + "/google/gmail") { token }
            func deliver(_ json: String) async throws -> String {
                let response = try await google.post("/_sandbox/google/gmail/deliver", json)
                #expect(response.status == 200, "\(response.bodyText)")
                return try #require((try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["id"] as? String)
            }
            let first = try await deliver("""
                {"to": "ana@nexa-demo.test", "from": "Zoë <zoe@example.com>", "subject": "Grüße – Angebot", "charset": "windows-1252",
                 "text": "Grüße aus Köln – das Angebot ist angehängt.", "html": "<p>Grüße aus <b>Köln</b></p>",
                 "attachments": [{"filename": "angebot.pdf", "content_type": "application/pdf", "data": "JVBERi0xLjQK"}],
                 "headers": {"List-Unsubscribe": "<mailto:u@example.com>"}}
                """)
            let reply = try await deliver(#"{"to": "ana@nexa-demo.test", "from": "zoe@example.com", "subject": "Re: Angebot", "text": "Und noch eine Frage.", "reply_to": "\#(first)"}"#)

            let original = MailContent(try #require(try await gmail.message(id: first)), owner: "ana@nexa-demo.test")
            #expect(original.subject == "Grüße – Angebot" && original.fromName == "Zoë" && original.from == "zoe@example.com")
            #expect(original.text == "Grüße aus Köln – das Angebot ist angehängt." && original.html == "<p>Grüße aus <b>Köln</b></p>")
            #expect(original.attachments.map(\.filename) == ["angebot.pdf"] && original.attachments.first?.mimeType == "application/pdf")
            #expect(original.isBulk)
            let answer = MailContent(try #require(try await gmail.message(id: reply)), owner: "ana@nexa-demo.test")
            #expect(answer.threadID == original.threadID && answer.inReplyTo == original.messageID && answer.references == [original.messageID].compactMap { $0 })
            #expect(!answer.isBulk && answer.text == "Und noch eine Frage.")

            // What cannot be written in the charset, or a reply to nothing, is the caller's error.
            #expect(try await google.post("/_sandbox/google/gmail/deliver", #"{"to": "ana@nexa-demo.test", "charset": "iso-8859-1", "text": "日本"}"#).status == 400)
            #expect(try await google.post("/_sandbox/google/gmail/deliver", #"{"to": "ana@nexa-demo.test", "text": "x", "reply_to": "0123456789abcdef"}"#).status == 400)
        }
    }
}
