import CRM
import CurlHTTP
import EmailCalendar
import Foundation
import Gateway
import Messages
import Postgres
import RPC
import TestSupport
import Testing

/// Mail sent from the CRM (one activity however it comes back), the completeness check finding a
/// gap made on purpose, and a resync from a clean cursor — users' calls, made with a user's key.
@Suite(.hangGuard) struct MailOutAndCheckTests {
    @Test func sentMailIsOneOutboundActivityItsEchoIsRecognisedAndARetrySendsNothing() async throws {
        try await EmailServiceHarness.run { s in
            try await s.google.deliver(from: "Buyer <buyer@example.com>", subject: "renewal")
            try await s.deliverQueued("connection.created")
            let gmail = try await s.gmail()

            var request = EmailCalendarV1.SendEmailRequest()
            request.to = ["Buyer@Example.com"]
            request.subject = "Proposal — für Sie"
            request.textBody = "Here it is."
            request.htmlBody = "<p>Here it is.</p>"
            request.idempotencyKey = "proposal-1"
            let sent = try await s.email.sendEmail(request, options: s.user)
            #expect(!sent.alreadySent && !sent.activityID.isEmpty && sent.messageID.hasPrefix("<nexa.") && sent.messageID.hasSuffix("@nexa-demo.test>"))
            let row = try #require(try await s.db.query("""
                SELECT subject, body, data->>'direction', data->>'sent_via', data->>'html', data->>'message_id', contact_id IS NOT NULL
                FROM activities WHERE id = \(UUID(uuidString: sent.activityID)!)
                """).first)
            #expect(try row.decode(String.self, at: 0) == "Proposal — für Sie" && row.decode(String.self, at: 1).contains("Here it is."))
            #expect(try row.decode(String.self, at: 2) == "outbound" && row.decode(String.self, at: 3) == "gmail")
            #expect(try row.decode(String.self, at: 4).contains("<p>Here it is.</p>") && row.decode(String.self, at: 5) == sent.messageID)
            #expect(try row.decode(Bool.self, at: 6))

            // The sent copy comes back through the mailbox's history (SENT): the same activity, not a second.
            try await s.push()
            #expect(try await s.subjects() == ["Proposal — für Sie", "renewal"])
            // The call retried with the same key sends nothing: Gmail holds the Message-ID once.
            let again = try await s.email.sendEmail(request, options: s.user)
            #expect(again.alreadySent && again.gmailMessageID == sent.gmailMessageID && again.activityID == sent.activityID)
            #expect(try await gmail.messageIDs(query: "rfc822msgid:\(sent.messageID)", limit: 10) == [sent.gmailMessageID])
        }
    }

    @Test func aReplyJoinsItsThreadAndAFailedSendIsRetriedOnceOrReportedWithNothingLogged() async throws {
        try await EmailServiceHarness.run { s in
            try await s.google.deliver(from: "buyer@example.com", subject: "question")
            try await s.deliverQueued("connection.created")
            let gmail = try await s.gmail()
            let original = try #require(try await s.db.query("""
                SELECT id, data->>'thread_id', data->>'message_id' FROM activities WHERE workspace_id = \(s.workspace)
                """).first)
            let originalID: UUID = try original.decode(at: 0)
            let originalThread: String = try original.decode(at: 1)
            let originalMessageID: String = try original.decode(at: 2)

            // Gmail answers the first send with a 503: Gmail is asked for the Message-ID, then it is sent once.
            _ = try await s.google.post("/_sandbox/faults", #"{"provider": "google", "method": "POST", "pathPrefix": "/gmail/gmail/v1/users/me/messages/send", "status": 503, "times": 1}"#)
            var reply = EmailCalendarV1.SendEmailRequest()
            reply.to = ["buyer@example.com"]
            reply.textBody = "Yes."
            reply.replyToActivityID = originalID.uuidString
            let sent = try await s.email.sendEmail(reply, options: s.user)
            #expect(sent.threadID == originalThread)
            #expect(try await gmail.messageIDs(query: "rfc822msgid:\(sent.messageID)", limit: 10).count == 1)
            let copy = MailContent(try #require(try await gmail.message(id: sent.gmailMessageID)), owner: EmailServiceHarness.owner)
            #expect(copy.subject == "Re: question" && copy.inReplyTo == originalMessageID && copy.direction == .outbound)
            #expect(copy.references == [originalMessageID])

            // A permanent refusal is the caller's error; nothing is logged, and the key may be used again.
            _ = try await s.google.post("/_sandbox/faults", #"{"provider": "google", "method": "POST", "pathPrefix": "/gmail/gmail/v1/users/me/messages/send", "status": 400, "times": 1}"#)
            var refused = EmailCalendarV1.SendEmailRequest()
            refused.to = ["buyer@example.com"]
            refused.subject = "refused"
            refused.textBody = "x"
            refused.idempotencyKey = "refused-1"
            await #expect(throws: RPCError.self) { _ = try await s.email.sendEmail(refused, options: s.user) }
            #expect(try await s.subjects() == ["Re: question", "question"])
            #expect(try await s.email.sendEmail(refused, options: s.user).alreadySent == false)

            // Drafts that cannot be sent are refused before anything reaches Gmail.
            func code(_ change: (inout EmailCalendarV1.SendEmailRequest) -> Void) async -> StatusCode? {
                var draft = EmailCalendarV1.SendEmailRequest()
                draft.to = ["buyer@example.com"]
                draft.textBody = "x"
                change(&draft)
                do { _ = try await s.email.sendEmail(draft, options: s.user); return nil } catch let error as RPCError { return error.code } catch { return nil }
            }
            #expect(await code { $0.to = [] } == .invalidArgument)
            #expect(await code { $0.to = ["buyer@example.com\r\nBcc:evil@example.net"] } == .invalidArgument)
            #expect(await code { $0.textBody = "" } == .invalidArgument)
            #expect(await code { $0.replyToActivityID = UUID().uuidString } == .invalidArgument)
            #expect(await code { $0.connectionID = UUID().uuidString } == .notFound)
            #expect(try await gmail.messageIDs(labelId: "SENT", query: "after:0", limit: 100).count == 2)
        }
    }

    @Test func theCompletenessCheckFindsAGapMadeOnPurposeAndFillsItAndAResyncDuplicatesNothing() async throws {
        try await EmailServiceHarness.run { s in
            try await s.google.deliver(from: "buyer@example.com", subject: "one")
            try await s.google.deliver(from: "buyer@example.com", subject: "two")
            try await s.google.deliver(from: "stranger@elsewhere.test", subject: "not a contact")
            try await s.google.deliver(from: "buyer@example.com", subject: "news", extraHeader: "Precedence: bulk")
            try await s.deliverQueued("connection.created")
            #expect(try await s.subjects() == ["one", "two"])
            let lost = try await s.db.query("DELETE FROM activities WHERE subject = 'two' RETURNING external_id")[0].decode(String.self, at: 0)

            var check = EmailCalendarV1.CheckMailSyncRequest()
            let found = try await s.email.checkMailSync(check, options: s.user)
            #expect(found.listed == 4 && found.expected == 2 && found.stored == 1 && found.missing == [lost] && found.repaired == 0)
            #expect(found.completenessPercent == 50)
            check.repair = true
            #expect(try await s.email.checkMailSync(check, options: s.user).repaired == 1)
            check.repair = false
            let after = try await s.email.checkMailSync(check, options: s.user)
            #expect(after.completenessPercent == 100 && after.missing.isEmpty && after.stored == 2)
            #expect(try await s.subjects() == ["one", "two"])
            // A window that ends before the mail arrived expects nothing.
            check.untilUnixMs = Int64(Date().addingTimeInterval(-86_400).timeIntervalSince1970 * 1000)
            #expect(try await s.email.checkMailSync(check, options: s.user).listed == 0)

            // A resync starts from a clean cursor and stores nothing twice.
            var resync = EmailCalendarV1.ResyncMailboxRequest()
            resync.connectionID = s.connection.id.uuidString
            let status = try await s.email.resyncMailbox(resync, options: s.user)
            #expect(status.state == "active" && status.messagesStored == 3)
            #expect(try await s.subjects() == ["one", "two"])
        }
    }
}
