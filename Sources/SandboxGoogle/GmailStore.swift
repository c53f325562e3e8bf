import Foundation
import Sandbox

/// The mailboxes of the sandbox's Google users: messages, history, watches.
actor GmailStore {
    struct Message: Sendable {
        var id: String
        var threadId: String
        var labelIds: [String]
        var raw: [UInt8]
        var internalDate: Int64
        var historyId: UInt64
    }

    struct Mailbox: Sendable {
        var messages: [String: Message] = [:]
        var order: [String] = []
        /// (history id, message added) in order.
        var history: [(id: UInt64, messageID: String)] = []
        var watchExpiration: Int64?
        var watchTopic: String?
    }

    private var mailboxes: [String: Mailbox] = [:]
    private var historyID: UInt64 = 1000
    /// History ids below this are no longer kept: `history.list` answers 404 for them.
    private var oldestHistory: UInt64 = 0
    private var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed &+ 7) }

    func currentHistoryID() -> UInt64 { historyID }

    private func newID() -> String { String(format: "%016llx", rng.next() >> 4) }

    /// Adds a message to a mailbox (inbound mail or a sent copy) and records it in the history.
    func add(user: String, raw: [UInt8], labels: [String], threadId: String? = nil) -> Message {
        historyID += 1
        let id = newID()
        let message = Message(id: id, threadId: threadId ?? id, labelIds: labels, raw: raw,
                              internalDate: Int64(Date().timeIntervalSince1970 * 1000), historyId: historyID)
        mailboxes[user, default: Mailbox()].messages[id] = message
        mailboxes[user, default: Mailbox()].order.append(id)
        mailboxes[user, default: Mailbox()].history.append((historyID, id))
        return message
    }

    func message(user: String, id: String) -> Message? { mailboxes[user]?.messages[id] }

    /// Newest first, optionally only those carrying every label in `labels`.
    func list(user: String, labels: [String]) -> [Message] {
        let box = mailboxes[user] ?? Mailbox()
        return box.order.reversed().compactMap { box.messages[$0] }.filter { m in labels.allSatisfy { m.labelIds.contains($0) } }
    }

    enum HistoryResult { case records([(id: UInt64, message: Message)]), expired }

    func history(user: String, since start: UInt64) -> HistoryResult {
        guard start >= oldestHistory else { return .expired }
        let box = mailboxes[user] ?? Mailbox()
        return .records(box.history.filter { $0.id > start }.compactMap { entry in box.messages[entry.messageID].map { (entry.id, $0) } })
    }

    func watch(user: String, topic: String) -> (historyId: UInt64, expiration: Int64) {
        let expiration = Int64(Date().timeIntervalSince1970 * 1000) + 7 * 24 * 3600 * 1000
        mailboxes[user, default: Mailbox()].watchExpiration = expiration
        mailboxes[user, default: Mailbox()].watchTopic = topic
        return (historyID, expiration)
    }

    func stop(user: String) {
        mailboxes[user]?.watchExpiration = nil
        mailboxes[user]?.watchTopic = nil
    }

    func watchTopic(user: String) -> String? {
        guard let box = mailboxes[user], let expiration = box.watchExpiration,
              expiration > Int64(Date().timeIntervalSince1970 * 1000) else { return nil }
        return box.watchTopic
    }

    /// Forgets all history so far (as Google does after about a week): older ids answer 404.
    func expireHistory() { oldestHistory = historyID + 1 }
}
