import CRM
import Cryptography
public import CurlHTTP
public import Foundation
import Platform
public import Postgres

/// Sends mail written in the CRM from a Gmail mailbox (`messages.send`) and logs it once as an
/// outbound activity (`sent_via gmail`).
///
/// Gmail has no idempotency key, so the message carries a Message-ID of ours, derived from the
/// caller's idempotency key: a send first claims that id in `sent_mail` (a retry finds the claim,
/// or the finished send), and asks Gmail (`rfc822msgid:`) whether it went out before every
/// attempt — an earlier call may have died after Gmail accepted it. When the sent copy comes back through the mailbox's
/// history it has the same Gmail id as the activity, so it is recognised, never logged twice.
public struct MailSender: Sendable {
    /// A message to send.
    public struct Draft: Sendable, Hashable {
        public var to: [String]
        public var cc: [String]
        public var subject: String
        public var text: String?
        public var html: String?
        /// The email activity this answers (its thread, Message-ID and subject).
        public var replyTo: UUID?
        /// The same key sends once.
        public var idempotencyKey: String

        public init(to: [String], cc: [String] = [], subject: String, text: String? = nil, html: String? = nil, replyTo: UUID? = nil,
                    idempotencyKey: String = UUID().uuidString) {
            self.to = to
            self.cc = cc
            self.subject = subject
            self.text = text
            self.html = html
            self.replyTo = replyTo
            self.idempotencyKey = idempotencyKey
        }
    }

    /// What became of a send.
    public struct Sent: Sendable, Hashable {
        /// Nil when nobody on the message is in the CRM, or when the sent copy could not be read yet
        /// (the mailbox's history logs it later).
        public var activity: UUID?
        public var gmailID: String
        public var threadID: String
        public var messageID: String
        /// This key had sent before: nothing was sent now.
        public var alreadySent: Bool
    }

    /// A draft that cannot be sent as it is.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case noRecipients
        case invalidAddress(String)
        case noBody
        case unknownActivity(UUID)
        /// Another call with this key is sending right now.
        case inProgress

        public var description: String {
            switch self {
            case .noRecipients: "a message needs at least one recipient in to"
            case .invalidAddress(let a): "\"\(a)\" is not an email address"
            case .noBody: "a message needs a text or an HTML body"
            case .unknownActivity(let id): "no email activity \(id) in this workspace to reply to"
            case .inProgress: "a send with this idempotency key is in progress"
            }
        }
    }

    let db: PostgresClient
    /// Sends of one message at most; between them, full-jitter backoff from `initialBackoff`.
    var attempts = 4
    var initialBackoff: Duration = .milliseconds(500)
    /// A claim older than this belongs to an attempt that died: a retry takes it over.
    var claimTimeout: TimeInterval = 120

    public init(db: PostgresClient) {
        self.db = db
    }

    /// Sends `draft` from the mailbox of `connection` (owned by `owner`).
    /// - Throws: `Problem` for a draft that cannot be sent; `GmailClient.Failure` when Gmail
    ///   refused it or stayed unavailable through every attempt (nothing is logged as sent).
    public func send(_ draft: Draft, connection: UUID, workspace: UUID, owner: String, gmail: GmailClient, now: Date = Date()) async throws -> Sent {
        let to = try Self.addresses(draft.to)
        let cc = try Self.addresses(draft.cc)
        guard !to.isEmpty else { throw Problem.noRecipients }
        guard draft.text?.isEmpty == false || draft.html?.isEmpty == false else { throw Problem.noBody }
        let messageID = Self.messageID(key: draft.idempotencyKey, workspace: workspace, owner: owner)

        // Claim the Message-ID; a finished send answers again, a live claim refuses.
        let claimed = try await db.query("""
            INSERT INTO sent_mail (workspace_id, message_id, connection_id) VALUES (\(workspace), \(messageID), \(connection))
            ON CONFLICT (workspace_id, message_id) DO UPDATE SET claimed_at = now()
              WHERE sent_mail.gmail_message_id IS NULL AND sent_mail.claimed_at < now() - \(claimTimeout) * interval '1 second'
            RETURNING 1
            """)
        guard !claimed.isEmpty else {
            guard let row = try await db.query("""
                SELECT gmail_message_id, thread_id, activity_id FROM sent_mail WHERE workspace_id = \(workspace) AND message_id = \(messageID)
                """).first, let gmailID = try row.decodeIfPresent(String.self, at: 0) else { throw Problem.inProgress }
            return Sent(activity: try row.decodeIfPresent(UUID.self, at: 2), gmailID: gmailID, threadID: try row.decode(at: 1),
                        messageID: messageID, alreadySent: true)
        }
        do {
            var thread: String?
            var references: [String] = []
            var subject = draft.subject.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
            if let replyTo = draft.replyTo {
                guard let row = try await db.query("""
                    SELECT data->>'thread_id', data->>'message_id', subject, coalesce(data->'references', '[]'::jsonb)::text
                    FROM activities WHERE id = \(replyTo) AND workspace_id = \(workspace) AND kind = 'email'
                    """).first else { throw Problem.unknownActivity(replyTo) }
                thread = try row.decodeIfPresent(String.self, at: 0)
                let earlier = (try? JSONDecoder().decode([String].self, from: Data(try row.decode(String.self, at: 3).utf8))) ?? []
                references = earlier + [try row.decodeIfPresent(String.self, at: 1)].compactMap { $0 }
                if subject.isEmpty {
                    let original: String = try row.decode(at: 2)
                    subject = original.lowercased().hasPrefix("re:") ? original : "Re: " + original
                }
            }
            let mail = OutboundMail.compose(from: owner, to: to, cc: cc, subject: subject, text: draft.text, html: draft.html, date: now,
                                            messageID: messageID, inReplyTo: references.last, references: references)
            let accepted = try await deliver(mail.message, messageID: messageID, thread: thread, gmail: gmail)
            // The sent copy, read back, is logged exactly as the mailbox's history would log it.
            let copy = try? await gmail.message(id: accepted.id)
            return try await db.withTransaction { tx in
                var activity: UUID?
                if let copy {
                    switch try await MailLog.store(MailContent(copy, owner: owner), workspace: workspace, sentVia: "gmail", in: tx) {
                    case .stored(let id): activity = id
                    case .alreadyStored:  // the history got there first
                        activity = try await tx.query("""
                            UPDATE activities SET data = data || '{"sent_via": "gmail"}'::jsonb
                            WHERE workspace_id = \(workspace) AND source = 'gmail' AND external_id = \(accepted.id) RETURNING id
                            """).first?.decode(UUID.self, at: 0)
                    case .bulk, .noParticipant: break
                    }
                }
                try await tx.execute("""
                    UPDATE sent_mail SET gmail_message_id = \(accepted.id), thread_id = \(accepted.threadID), activity_id = \(activity), sent_at = now()
                    WHERE workspace_id = \(workspace) AND message_id = \(messageID)
                    """)
                return Sent(activity: activity, gmailID: accepted.id, threadID: accepted.threadID, messageID: messageID, alreadySent: false)
            }
        } catch {
            // Not sent (or not known to be): release the claim so the caller may retry at once.
            try? await db.execute("""
                DELETE FROM sent_mail WHERE workspace_id = \(workspace) AND message_id = \(messageID) AND gmail_message_id IS NULL
                """)
            throw error
        }
    }

    /// `messages.send` with retries for what may pass (rate limits, an unavailable Gmail); before
    /// each attempt Gmail is asked whether the Message-ID already went out.
    private func deliver(_ raw: [UInt8], messageID: String, thread: String?, gmail: GmailClient) async throws -> (id: String, threadID: String) {
        var attempt = 0
        while true {
            if let id = try await gmail.messageIDs(query: "rfc822msgid:\(messageID)", limit: 1).first,
               let message = try await gmail.message(id: id) {
                return (id, message.threadId)
            }
            let failure: GmailClient.Failure
            do { return try await gmail.send(raw: raw, threadID: thread) } catch { failure = error }
            attempt += 1
            switch failure {
            case .rateLimited where attempt < attempts, .unavailable where attempt < attempts:
                try await Task.sleep(for: Backoff.fullJitter(attempt: attempt, initial: initialBackoff, maximum: .seconds(30)))
            default:
                throw failure
            }
        }
    }

    /// Our Message-ID for `key`: the same key, workspace and mailbox give the same id.
    static func messageID(key: String, workspace: UUID, owner: String) -> String {
        let digest = Digest.hex(Digest.sha256(Array("\(workspace.uuidString.lowercased())\u{0}\(key)".utf8)).prefix(16))
        let domain = owner.split(separator: "@").last.map(String.init) ?? "nexa.invalid"
        return "<nexa.\(digest)@\(domain)>"
    }

    private static func addresses(_ raw: [String]) throws(Problem) -> [String] {
        var addresses: [String] = []
        for text in raw where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let address = EmailAddresses.normalize(text) else { throw .invalidAddress(text) }
            addresses.append(address)
        }
        return addresses
    }
}
