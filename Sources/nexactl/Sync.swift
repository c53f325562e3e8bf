import ArgumentParser
import Foundation
import Messages
import RPC
import RPCNIO

/// `nexactl sync status|check|resync`: where each mailbox of the key's workspace stands, whether
/// it holds everything Gmail has, and a clean restart.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sync", abstract: "Mailbox and calendar sync.",
                                                    subcommands: [Status.self, Check.self, Resync.self])

    static func when(_ ms: Int64) -> String {
        ms == 0 ? "never" : ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// `YYYY-MM-DD` or an ISO 8601 time, as epoch milliseconds.
    static func milliseconds(_ text: String?) throws -> Int64 {
        guard let text else { return 0 }
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = TimeZone(identifier: "UTC")
        day.dateFormat = "yyyy-MM-dd"
        guard let date = day.date(from: text) ?? ISO8601DateFormatter().date(from: text) else {
            throw ValidationError("\"\(text)\" is not a date (YYYY-MM-DD or ISO 8601)")
        }
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    static func line(_ m: EmailCalendarV1.MailboxStatus) -> String {
        "\(m.ownerEmail)  \(m.state)\(m.failureClass.isEmpty ? "" : " (\(m.failureClass): \(m.failure))")  last sync \(when(m.lastSyncedAtUnixMs))"
            + "  \(m.messagesSeen) read, \(m.messagesStored) stored  watch until \(when(m.watchExpiresAtUnixMs))  connection \(m.connectionID)"
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each mailbox: state, failure class, last sync, counts.")
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let status = try await service.rpc("email_calendar") {
                try await EmailCalendarV1.EmailCalendarService.Client(transport: $0).getSyncStatus(.init(), options: $1)
            }
            guard !status.mailboxes.isEmpty || !status.calendars.isEmpty else { return print("no mailboxes or calendars are synced in this workspace") }
            for m in status.mailboxes { print("mailbox   " + SyncCommand.line(m)) }
            for c in status.calendars {
                print("calendar  \(c.ownerEmail)  \(c.state)\(c.failureClass.isEmpty ? "" : " (\(c.failureClass): \(c.failure))")  last sync \(SyncCommand.when(c.lastSyncedAtUnixMs))"
                      + "  \(c.eventsSeen) events read, \(c.meetingsStored) meetings  channel until \(SyncCommand.when(c.channelExpiresAtUnixMs))  connection \(c.connectionID)")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare what Gmail has in a window (default the last 7 days) with what is stored; --repair imports the gaps.")
        @OptionGroup var service: ServiceOptions
        @Option(help: "The mailbox's connection id (needed when the workspace has several).") var connection: String = ""
        @Option(help: "Window start, YYYY-MM-DD or ISO 8601.") var since: String?
        @Option(help: "Window end (default now).") var until: String?
        @Flag(help: "Import what is missing.") var repair = false

        func run() async throws {
            var request = EmailCalendarV1.CheckMailSyncRequest()
            request.connectionID = connection
            request.sinceUnixMs = try SyncCommand.milliseconds(since)
            request.untilUnixMs = try SyncCommand.milliseconds(until)
            request.repair = repair
            let found = try await service.rpc("email_calendar") {
                try await EmailCalendarV1.EmailCalendarService.Client(transport: $0).checkMailSync(request, options: $1)
            }
            print(String(format: "%.1f%% complete: %lld of %lld expected stored (%lld listed at Gmail)",
                         found.completenessPercent, found.stored, found.expected, found.listed))
            if !found.missing.isEmpty { print("missing: \(found.missing.joined(separator: " "))") }
            if repair { print("repaired: \(found.repaired)") }
        }
    }

    struct Resync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restart a mailbox from a clean cursor, without duplicating anything.")
        @OptionGroup var service: ServiceOptions
        @Argument(help: "The mailbox's connection id.") var connection: String
        @Option(help: "How far back, YYYY-MM-DD or ISO 8601 (default the configured window).") var since: String?

        func run() async throws {
            var request = EmailCalendarV1.ResyncMailboxRequest()
            request.connectionID = connection
            request.sinceUnixMs = try SyncCommand.milliseconds(since)
            let status = try await service.rpc("email_calendar") {
                try await EmailCalendarV1.EmailCalendarService.Client(transport: $0).resyncMailbox(request, options: $1)
            }
            print(SyncCommand.line(status))
        }
    }
}

/// `nexactl calendar create-meeting`: a meeting made in the CRM, on the owner's Google calendar with a Meet link.
struct CalendarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "calendar", abstract: "Meetings on connected calendars.", subcommands: [CreateMeeting.self])

    struct CreateMeeting: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create-meeting", abstract: "Put a CRM meeting on the Google calendar, with a Meet link.")
        @OptionGroup var service: ServiceOptions
        @Argument(help: "The CRM meeting's id.") var meeting: String
        @Option(help: "The calendar's connection id (needed when the workspace has several).") var connection: String = ""

        func run() async throws {
            var request = EmailCalendarV1.CreateMeetingRequest()
            request.meetingID = meeting
            request.connectionID = connection
            let created = try await service.rpc("email_calendar") {
                try await EmailCalendarV1.EmailCalendarService.Client(transport: $0).createMeeting(request, options: $1)
            }
            print("event \(created.eventID)  \(created.conferenceURL.isEmpty ? "no conference link" : created.conferenceURL)")
        }
    }
}

/// `nexactl email send`: mail from a connected mailbox, logged as an outbound activity.
struct EmailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "email", abstract: "Mail sent from the CRM.", subcommands: [Send.self])

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send mail from a connected Gmail mailbox.")
        @OptionGroup var service: ServiceOptions
        @Option(help: "Recipient (repeat for several).") var to: [String] = []
        @Option(help: "Copy to (repeat for several).") var cc: [String] = []
        @Option(help: "Subject (default for a reply: Re: and the original's).") var subject: String = ""
        @Option(help: "Text body.") var text: String = ""
        @Option(help: "HTML body.") var html: String = ""
        @Option(help: "The email activity this answers (the reply joins its thread).") var replyTo: String = ""
        @Option(help: "The mailbox's connection id (needed when the workspace has several).") var connection: String = ""
        @Option(help: "Sends once however often the command is repeated with it.") var idempotencyKey: String = ""

        func run() async throws {
            var request = EmailCalendarV1.SendEmailRequest()
            request.to = to
            request.cc = cc
            request.subject = subject
            request.textBody = text
            request.htmlBody = html
            request.replyToActivityID = replyTo
            request.connectionID = connection
            request.idempotencyKey = idempotencyKey
            let sent = try await service.rpc("email_calendar") {
                try await EmailCalendarV1.EmailCalendarService.Client(transport: $0).sendEmail(request, options: $1)
            }
            print("\(sent.alreadySent ? "already sent" : "sent") \(sent.messageID): gmail \(sent.gmailMessageID) thread \(sent.threadID)"
                  + (sent.activityID.isEmpty ? "" : "  activity \(sent.activityID)"))
        }
    }
}
