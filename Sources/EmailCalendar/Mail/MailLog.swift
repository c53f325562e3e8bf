public import CRM
public import Foundation
public import Postgres

/// Turns a mailbox's messages into CRM activities (the seed's `onNewEmail`): the sender of inbound
/// mail and every recipient of outbound mail are looked up among the workspace's contacts and
/// leads; a message with one of them is one `email` activity (once per Gmail id, however often it
/// is seen), their `last_contacted_at` moves forward and the leads' scores are recalculated. Mail
/// with nobody the CRM knows, and bulk or automated mail, is counted, not stored.
public enum MailLog {
    /// What became of one message.
    public enum Outcome: Sendable, Hashable {
        /// Stored as this activity.
        case stored(UUID)
        /// Stored before (the same Gmail id): nothing changed.
        case alreadyStored
        /// Newsletters, notifications, auto-replies.
        case bulk
        /// Nobody on it is a contact or a lead.
        case noParticipant
    }

    /// The contacts and leads `mail` is with — the sender of inbound mail, every recipient of
    /// outbound mail — or nil for bulk and automated mail.
    public static func participants(_ mail: MailContent, workspace: UUID, in db: PostgresConnectionHandle) async throws -> [Person]? {
        try await participants(of: [mail], workspace: workspace, in: db)[0]
    }

    /// `participants` of many messages, with one lookup for all of them.
    static func participants(of mails: [MailContent], workspace: UUID, in db: PostgresConnectionHandle) async throws -> [[Person]?] {
        let counterparts = mails.map { $0.isBulk ? [] : $0.direction == .inbound ? [$0.from].compactMap { $0 } : $0.to + $0.cc }
        let found = try await People.find(emails: counterparts.joined(), workspace: workspace, in: db)
        return zip(mails, counterparts).map { mail, addresses in mail.isBulk ? nil : addresses.flatMap { found[$0] ?? [] } }
    }

    /// Stores `mails` for `workspace` in the caller's transaction (a sync advances its cursor in
    /// the same one): matched with one lookup, recorded with one statement, their people touched
    /// with one per table, their leads re-scored.
    /// - Parameters:
    ///   - sentVia: how the CRM sent them (`gmail`), when it did.
    ///   - analyser: reads each message's sentiment and intent (called inside the caller's
    ///     transaction: a slow, hosted analyser belongs before it).
    public static func store(_ mails: [MailContent], workspace: UUID, sentVia: String? = nil, analyser: any MailAnalyser = LocalMailAnalyser(),
                             in db: PostgresConnectionHandle) async throws -> [Outcome] {
        let found = try await participants(of: mails, workspace: workspace, in: db)
        var outcomes = [Outcome](repeating: .noParticipant, count: mails.count)
        var activities: [(index: Int, activity: Activity)] = []
        for (index, (mail, people)) in zip(mails, found).enumerated() {
            guard let people else { outcomes[index] = .bulk; continue }
            guard !people.isEmpty else { continue }
            activities.append((index, try await activity(mail, people: people, sentVia: sentVia, analyser: analyser)))
        }
        var touched: [(person: Person, at: Date)] = []
        for ((index, activity), id) in zip(activities, try await Activities.record(activities.map(\.activity), workspace: workspace, in: db)) {
            guard let id else { outcomes[index] = .alreadyStored; continue }
            outcomes[index] = .stored(id)
            touched += (found[index] ?? []).map { ($0, activity.occurredAt) }
        }
        try await People.touch(touched, workspace: workspace, in: db)
        for lead in Set(touched.filter { $0.person.kind == .lead }.map(\.person.id)) {
            try await Scores.recalculateLead(lead: lead, workspace: workspace, in: db)
        }
        return outcomes
    }

    /// `store` of one message.
    public static func store(_ mail: MailContent, workspace: UUID, sentVia: String? = nil, analyser: any MailAnalyser = LocalMailAnalyser(),
                             in db: PostgresConnectionHandle) async throws -> Outcome {
        try await store([mail], workspace: workspace, sentVia: sentVia, analyser: analyser, in: db)[0]
    }

    /// The `email` activity of `mail` with `people`: linked to the first contact (and its
    /// account) and the first lead, read for sentiment and intent.
    private static func activity(_ mail: MailContent, people: [Person], sentVia: String?, analyser: any MailAnalyser) async throws -> Activity {
        let contact = people.first { $0.kind == .contact }
        let lead = people.first { $0.kind == .lead }
        let payload = EmailMessage(
            direction: mail.direction, from: mail.from ?? "", to: mail.to, cc: mail.cc, threadID: mail.threadID, messageID: mail.messageID,
            snippet: mail.snippet.isEmpty ? nil : mail.snippet, html: mail.html, attachments: mail.attachments.isEmpty ? nil : mail.attachments.map(\.filename),
            references: mail.references.isEmpty ? nil : mail.references, sentVia: sentVia,
            analysis: try await analyser.analyse(subject: mail.subject, body: mail.ownWords))
        return Activity(
            subject: mail.subject.isEmpty ? "(no subject)" : mail.subject, body: mail.text, occurredAt: mail.receivedAt ?? Date(),
            links: ActivityLinks(contact: contact?.id, lead: lead?.id, account: contact?.account),
            source: mail.source, externalID: mail.providerID, payload: payload)
    }
}
