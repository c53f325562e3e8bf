import Foundation
import Logging
public import Messages
import Platform
import Postgres
public import RPC

/// The users' mail methods: send, check a mailbox's completeness, resync it.
extension EmailCalendarHandler {
    public func sendEmail(_ request: EmailCalendarV1.SendEmailRequest, context: ServerContext) async throws -> EmailCalendarV1.SendEmailResponse {
        let workspace = try context.workspace()
        let (connection, owner) = try await mailboxes.named(request.connectionID, workspace: workspace)
        var draft = MailSender.Draft(to: request.to, cc: request.cc, subject: request.subject,
                                     text: request.textBody.isEmpty ? nil : request.textBody, html: request.htmlBody.isEmpty ? nil : request.htmlBody)
        if !request.replyToActivityID.isEmpty {
            guard let id = UUID(uuidString: request.replyToActivityID) else { throw RPCError(.invalidArgument, "reply_to_activity_id is not a UUID") }
            draft.replyTo = id
        }
        if !request.idempotencyKey.isEmpty { draft.idempotencyKey = request.idempotencyKey }
        let sent: MailSender.Sent
        do {
            sent = try await run(connection, .mailboxes) { try await sender.send(draft, connection: connection, workspace: workspace, owner: owner, gmail: gmail(connection, context)) }
        } catch let problem as MailSender.Problem {
            throw RPCError(problem == .inProgress ? .aborted : .invalidArgument, problem.description)
        }
        logger.info("mail sent", metadata: ["connection": "\(connection)", "gmail_id": "\(sent.gmailID)", "already_sent": "\(sent.alreadySent)"])
        var response = EmailCalendarV1.SendEmailResponse()
        response.activityID = sent.activity?.uuidString.lowercased() ?? ""
        response.gmailMessageID = sent.gmailID
        response.threadID = sent.threadID
        response.messageID = sent.messageID
        response.alreadySent = sent.alreadySent
        return response
    }

    public func checkMailSync(_ request: EmailCalendarV1.CheckMailSyncRequest, context: ServerContext) async throws -> EmailCalendarV1.CheckMailSyncResponse {
        let workspace = try context.workspace()
        let (connection, _) = try await mailboxes.named(request.connectionID, workspace: workspace)
        let until = request.untilUnixMs > 0 ? Date(timeIntervalSince1970: Double(request.untilUnixMs) / 1000) : Date()
        let since = request.sinceUnixMs > 0 ? Date(timeIntervalSince1970: Double(request.sinceUnixMs) / 1000) : until.addingTimeInterval(-7 * 86_400)
        guard since < until else { throw RPCError(.invalidArgument, "since must be before until") }
        let found = try await run(connection, .mailboxes) {
            try await mailboxes.check(connection: connection, since: since, until: until, repair: request.repair, gmail: gmail(connection, context))
        }
        logger.info("mail sync checked", metadata: [
            "connection": "\(connection)", "expected": "\(found.expected)", "missing": "\(found.missing.count)", "repaired": "\(found.repaired)",
        ])
        var response = EmailCalendarV1.CheckMailSyncResponse()
        response.listed = Int64(found.listed)
        response.expected = Int64(found.expected)
        response.stored = Int64(found.stored)
        response.completenessPercent = found.percent
        response.missing = found.missing
        response.repaired = Int64(found.repaired)
        return response
    }

    public func resyncMailbox(_ request: EmailCalendarV1.ResyncMailboxRequest, context: ServerContext) async throws -> EmailCalendarV1.MailboxStatus {
        let workspace = try context.workspace()
        guard !request.connectionID.isEmpty else { throw RPCError(.invalidArgument, "connection_id names the mailbox to resync") }
        let (connection, _) = try await mailboxes.named(request.connectionID, workspace: workspace)
        let since = request.sinceUnixMs > 0 ? Date(timeIntervalSince1970: Double(request.sinceUnixMs) / 1000) : nil
        let report = try await run(connection, .mailboxes) { try await mailboxes.resync(connection: connection, since: since, gmail: gmail(connection, context)) }
        logger.info("mailbox resynced", metadata: ["connection": "\(connection)", "seen": "\(report.seen)", "stored": "\(report.stored)"])
        guard let status = try await mailboxes.status(workspace: workspace).first(where: { $0.connectionID == connection.uuidString.lowercased() }) else {
            throw RPCError(.notFound, "the mailbox is gone")
        }
        return status
    }
}
