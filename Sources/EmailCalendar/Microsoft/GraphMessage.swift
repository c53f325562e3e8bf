import CRM
public import Foundation

/// An Outlook `message` as Graph v1.0 returns it (from a list, `GET /me/messages/{id}`, or a delta
/// page — where a removed one has only `id` and `@removed`): the fields the sync reads, by Graph's
/// names.
public struct GraphMessage: Decodable, Sendable, Hashable {
    public struct Recipient: Decodable, Sendable, Hashable {
        public struct EmailAddress: Decodable, Sendable, Hashable {
            public var name: String?
            public var address: String?
        }
        public var emailAddress: EmailAddress?
    }

    public struct Body: Decodable, Sendable, Hashable {
        /// `text` or `html` (Graph answers in lower case).
        public var contentType: String?
        public var content: String?
    }

    public struct Header: Decodable, Sendable, Hashable {
        public var name: String
        public var value: String
    }

    public struct Removed: Decodable, Sendable, Hashable {
        public var reason: String?
    }

    public var id: String
    public var conversationId: String?
    public var subject: String?
    public var bodyPreview: String?
    public var body: Body?
    public var from: Recipient?
    public var toRecipients: [Recipient]?
    public var ccRecipients: [Recipient]?
    /// RFC 3339, UTC.
    public var receivedDateTime: String?
    public var internetMessageId: String?
    /// Only when selected (`$select=…,internetMessageHeaders`).
    public var internetMessageHeaders: [Header]?
    public var parentFolderId: String?
    public var hasAttachments: Bool?
    public var removed: Removed?

    enum CodingKeys: String, CodingKey {
        case id, conversationId, subject, bodyPreview, body, from, toRecipients, ccRecipients, receivedDateTime, internetMessageId,
             internetMessageHeaders, parentFolderId, hasAttachments, removed = "@removed"
    }

    public var receivedAt: Date? { receivedDateTime.flatMap(ProviderCalls.date) }
}

extension MailContent {
    /// Decodes an Outlook `message` read from the mailbox of `owner`: one in Sent Items
    /// (`sentItemsFolderID`), or from the owner, is outbound. Bulk and threading come from its
    /// `internetMessageHeaders` when they were selected.
    public init(_ message: GraphMessage, owner: String, sentItemsFolderID: String?) {
        let headers = Headers((message.internetMessageHeaders ?? []).map { GmailMessage.Header(name: $0.name, value: $0.value) })
        let addresses = { (recipients: [GraphMessage.Recipient]?) in
            (recipients ?? []).compactMap { $0.emailAddress?.address.flatMap(EmailAddresses.normalize) }
        }
        source = "outlook"
        providerID = message.id
        threadID = message.conversationId ?? message.id
        from = message.from?.emailAddress?.address.flatMap(EmailAddresses.normalize)
        fromName = message.from?.emailAddress?.name
        to = addresses(message.toRecipients)
        cc = addresses(message.ccRecipients)
        let sent = (sentItemsFolderID != nil && message.parentFolderId == sentItemsFolderID) || (from != nil && from == EmailAddresses.normalize(owner))
        direction = sent ? .outbound : .inbound
        subject = message.subject ?? ""
        snippet = message.bodyPreview ?? ""
        messageID = message.internetMessageId
        inReplyTo = headers["in-reply-to"].map(Self.messageIDs).flatMap(\.first)
        references = headers["references"].map(Self.messageIDs) ?? []
        receivedAt = message.receivedAt
        let isHTML = message.body?.contentType?.lowercased() == "html"
        text = isHTML ? nil : message.body?.content
        html = isHTML ? message.body?.content : nil
        attachments = []  // Graph lists them separately (`/attachments`); `hasAttachments` says whether there are any
        isBulk = Self.isBulk(headers)
    }
}
