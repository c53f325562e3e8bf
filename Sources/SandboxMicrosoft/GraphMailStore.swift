import Foundation
import Sandbox
import Synchronization

/// The mailbox behind the Graph mail stand-in: messages in the well-known folders, and the change
/// log delta queries read.
final class GraphMailStore: Sendable {
    struct Address: Sendable, Hashable {
        var name: String?
        var address: String
    }

    struct Message: Sendable {
        var id: String
        var folder: String
        var from: Address
        var to: [Address]
        var cc: [Address]
        var subject: String
        var contentType: String  // "html" or "text"
        var content: String
        var received: Date
        var sent: Date
        var internetMessageID: String
        var conversationID: String
        var headers: [(name: String, value: String)]
        var hasAttachments: Bool
        var isRead: Bool
        /// The order the store took it in (ties of `received`).
        var order = 0
    }

    private struct State {
        var messages: [String: Message] = [:]
        var log = ChangeLog()
        var counter = 0
    }

    private let state = Mutex(State())

    /// The well-known folders and their (stable, opaque) ids.
    static let folders = ["inbox": "AQMkADAwATNiZmYAZC1pbmJveAAuAAAD", "sentitems": "AQMkADAwATNiZmYAZC1zZW50aXRlbXMAAAD"]

    /// A folder's canonical name from a path segment: a well-known name (any case) or its id.
    static func folder(_ segment: String) -> String? {
        let lower = segment.lowercased()
        if folders[lower] != nil { return lower }
        return folders.first { $0.value == segment }?.key
    }

    func add(_ make: (_ id: String, _ conversation: String) -> Message, conversation: String? = nil) -> Message {
        state.withLock { s in
            s.counter += 1
            let id = "AAMkAGI2" + Data("message-\(s.counter)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            let conversationID = conversation ?? "AAQkAGI2" + Data("conversation-\(s.counter)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            var message = make(id, conversationID)
            message.order = s.counter
            s.messages[id] = message
            s.log.record(id, in: message.folder)
            return message
        }
    }

    func remove(id: String) -> Bool {
        state.withLock { s in
            guard let message = s.messages.removeValue(forKey: id) else { return false }
            s.log.record(id, in: message.folder, removed: true)
            return true
        }
    }

    func message(id: String) -> Message? { state.withLock { $0.messages[id] } }

    /// The folder's messages, newest first.
    func messages(in folder: String) -> [Message] {
        state.withLock { $0.messages.values.filter { $0.folder == folder }.sorted { ($0.received, $0.order) > ($1.received, $1.order) } }
    }

    var sequence: Int { state.withLock { $0.log.sequence } }

    func isKnown(deltaToken: Int) -> Bool { state.withLock { $0.log.isKnown(deltaToken) } }

    func changes(in folder: String, after sequence: Int, upTo: Int) -> [ChangeLog.Change] {
        state.withLock { $0.log.changes(in: folder, after: sequence, upTo: upTo) }
    }

    /// Every delta token handed out so far stops working.
    func expireDeltaTokens() {
        state.withLock { $0.log.expire() }
    }
}
