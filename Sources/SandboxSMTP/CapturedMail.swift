public import Foundation
import Synchronization

/// Messages the capturing SMTP server accepted, for tests and `nexactl sandbox` to read.
public final class Mailbox: Sendable {
    /// One accepted message.
    public struct Message: Sendable, Hashable {
        public var id: String
        public var from: String
        public var recipients: [String]
        /// The DATA exactly as received, dot-unstuffed, CRLF line ends.
        public var data: String
        public var receivedAt: Date

        /// The first header with this name (case-insensitive), unfolded.
        public func header(_ name: String) -> String? {
            var value: String?
            for line in data.components(separatedBy: "\r\n") {
                if line.isEmpty { break }  // end of the header block
                if let current = value, line.first == " " || line.first == "\t" {
                    value = current + " " + line.trimmingCharacters(in: .whitespaces)
                    continue
                }
                if value != nil { break }
                if let colon = line.firstIndex(of: ":"), line[..<colon].caseInsensitiveCompare(name) == .orderedSame {
                    value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return value
        }

        /// Everything after the blank line that ends the headers.
        public var body: String {
            data.range(of: "\r\n\r\n").map { String(data[$0.upperBound...]) } ?? ""
        }
    }

    private let messages = Mutex<[Message]>([])

    public init() {}

    public var all: [Message] { messages.withLock { $0 } }

    public func clear() { messages.withLock { $0.removeAll() } }

    func deliver(from: String, recipients: [String], data: String) -> String {
        messages.withLock { list in
            let id = "sandbox-\(list.count + 1)"
            list.append(Message(id: id, from: from, recipients: recipients, data: data, receivedAt: Date()))
            return id
        }
    }
}
