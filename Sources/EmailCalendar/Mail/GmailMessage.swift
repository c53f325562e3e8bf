public import Foundation

/// A Gmail `Message` as `users.messages.get` (format `full`) returns it: the fields the sync reads.
/// Field names are the API's (see the Gmail discovery document, `Message` and `MessagePart`).
public struct GmailMessage: Decodable, Sendable, Hashable {
    public var id: String
    public var threadId: String
    public var labelIds: [String]?
    public var snippet: String?
    public var historyId: String?
    /// Epoch milliseconds, as a string.
    public var internalDate: String?
    public var payload: Part?

    /// One MIME part; `parts` for `multipart/*`.
    public struct Part: Decodable, Sendable, Hashable {
        public var partId: String?
        public var mimeType: String?
        public var filename: String?
        public var headers: [Header]?
        public var body: Body?
        public var parts: [Part]?
    }

    public struct Header: Decodable, Sendable, Hashable {
        public var name: String
        public var value: String
    }

    /// `data` is the part's content (transfer encoding already removed by Gmail), base64url.
    public struct Body: Decodable, Sendable, Hashable {
        public var size: Int?
        public var data: String?
        public var attachmentId: String?
    }

    /// When Gmail received (or, for sent mail, accepted) the message.
    public var receivedAt: Date? {
        internalDate.flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
    }
}
