public import CRM
import Cryptography
public import Foundation

/// What a Gmail message says, decoded: participants, subject, the text and HTML bodies (base64url,
/// charsets, RFC 2047 header words), attachments, threading headers, whether it is bulk or
/// automated mail, and its direction for the mailbox it was read from.
public struct MailContent: Sendable, Hashable {
    /// Where it was read: `gmail` or `outlook` (the activity's source).
    public var source: String
    /// The provider's id of the message (Gmail's or Graph's).
    public var providerID: String
    /// Gmail's thread id, or Outlook's conversation id.
    public var threadID: String
    public var direction: EmailMessage.Direction
    /// The sender's address (normalised), and display name when given.
    public var from: String?
    public var fromName: String?
    public var to: [String]
    public var cc: [String]
    public var subject: String
    public var snippet: String
    public var text: String?
    public var html: String?
    public var attachments: [Attachment]
    public var messageID: String?
    public var inReplyTo: String?
    public var references: [String]
    public var receivedAt: Date?
    /// Newsletters, notifications and auto-replies: not a conversation with a person.
    public var isBulk: Bool

    public struct Attachment: Sendable, Hashable {
        public var filename: String
        public var mimeType: String
        public var size: Int

        public init(filename: String, mimeType: String, size: Int) {
            self.filename = filename
            self.mimeType = mimeType
            self.size = size
        }
    }

    /// Decodes `message` as read from the mailbox of `owner` (its address): a message with the
    /// `SENT` label, or from the owner, is outbound.
    public init(_ message: GmailMessage, owner: String) {
        let part = message.payload
        let headers = Headers(part?.headers ?? [])
        source = "gmail"
        providerID = message.id
        threadID = message.threadId
        let fromHeader = headers["from"] ?? ""
        let senders = EmailAddresses.parse(fromHeader)
        from = senders.first
        fromName = Self.displayName(in: MailWords.decode(fromHeader))
        to = EmailAddresses.parse(headers["to"] ?? "")
        cc = EmailAddresses.parse(headers["cc"] ?? "")
        let ownerAddress = EmailAddresses.normalize(owner)
        let sent = (message.labelIds ?? []).contains("SENT") || (from != nil && from == ownerAddress)
        direction = sent ? .outbound : .inbound
        subject = MailWords.decode(headers["subject"] ?? "")
        snippet = message.snippet ?? ""
        messageID = headers["message-id"].map(Self.messageIDs).flatMap(\.first)
        inReplyTo = headers["in-reply-to"].map(Self.messageIDs).flatMap(\.first)
        references = headers["references"].map(Self.messageIDs) ?? []
        receivedAt = message.receivedAt
        var bodies = Bodies()
        if let part { bodies.collect(part) }
        text = bodies.text
        html = bodies.html
        attachments = bodies.attachments
        isBulk = Self.isBulk(headers)
    }

    /// What the writer wrote in this message: the text body (else the snippet) without the quoted
    /// message it answers (`>` lines, and everything from an "On … wrote:" line).
    public var ownWords: String {
        var kept: [Substring] = []
        for line in (text ?? snippet).split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(">") { continue }
            if trimmed.hasPrefix("On "), trimmed.hasSuffix("wrote:") { break }
            kept.append(line)
        }
        return kept.joined(separator: "\n")
    }

    /// List-Unsubscribe or List-Id, `Precedence: bulk|list|junk`, or any `Auto-Submitted` but `no`
    /// (RFC 3834): mail sent to many or by a machine.
    static func isBulk(_ headers: Headers) -> Bool {
        if headers["list-unsubscribe"] != nil || headers["list-id"] != nil { return true }
        if let precedence = headers["precedence"]?.lowercased(), ["bulk", "list", "junk"].contains(precedence.trimmingCharacters(in: .whitespaces)) {
            return true
        }
        if let auto = headers["auto-submitted"]?.lowercased().trimmingCharacters(in: .whitespaces), !auto.isEmpty, !auto.hasPrefix("no") { return true }
        return false
    }

    /// `<id@host>` tokens of a Message-ID, In-Reply-To or References header.
    static func messageIDs(_ header: String) -> [String] {
        var ids: [String] = []
        var rest = Substring(header)
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            ids.append(String(rest[open...close]))
            rest = rest[rest.index(after: close)...]
        }
        return ids
    }

    /// `"Ana Diaz" <ana@x>` → `Ana Diaz`; nil without a display name.
    static func displayName(in header: String) -> String? {
        guard let open = header.firstIndex(of: "<") else { return nil }
        let name = header[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return name.isEmpty ? nil : name
    }
}

/// A part's headers, by lower-case name (the first of repeated ones).
struct Headers {
    private var values: [String: String] = [:]

    init(_ headers: [GmailMessage.Header]) {
        for header in headers where values[header.name.lowercased()] == nil { values[header.name.lowercased()] = header.value }
    }

    subscript(name: String) -> String? { values[name] }
}

/// The first text/plain and text/html bodies of a part tree that are not attachments, and the attachments.
struct Bodies {
    var text: String?
    var html: String?
    var attachments: [MailContent.Attachment] = []

    mutating func collect(_ part: GmailMessage.Part) {
        if let parts = part.parts, !parts.isEmpty {
            for child in parts { collect(child) }
            return
        }
        let headers = Headers(part.headers ?? [])
        let mimeType = (part.mimeType ?? "text/plain").lowercased()
        let disposition = headers["content-disposition"]?.lowercased() ?? ""
        if let filename = part.filename, !filename.isEmpty || disposition.hasPrefix("attachment") {
            attachments.append(.init(filename: MailWords.decode(filename), mimeType: mimeType, size: part.body?.size ?? 0))
            return
        }
        guard mimeType == "text/plain" || mimeType == "text/html", let data = part.body?.data,
              let bytes = Digest.base64URLDecode(data) else { return }
        let charset = MailWords.parameter("charset", in: headers["content-type"] ?? "") ?? "utf-8"
        let decoded = MailWords.string(bytes, charset: charset)
        if mimeType == "text/plain", text == nil { text = decoded }
        if mimeType == "text/html", html == nil { html = decoded }
    }
}

/// Character sets and RFC 2047 encoded words.
enum MailWords {
    /// `bytes` in `charset`: UTF-8, US-ASCII, ISO-8859-1 and Windows-1252 exactly; anything else as
    /// UTF-8 with replacement characters (never a failure).
    static func string(_ bytes: [UInt8], charset: String) -> String {
        switch charset.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) {
        case "iso-8859-1", "latin1", "iso_8859-1", "l1":
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case "windows-1252", "cp1252":
            return String(String.UnicodeScalarView(bytes.map(windows1252)))
        default:
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Windows-1252's printable characters in 0x80–0x9F; elsewhere it is ISO-8859-1.
    private static func windows1252(_ byte: UInt8) -> Unicode.Scalar {
        let high: [UInt8: UInt32] = [
            0x80: 0x20AC, 0x82: 0x201A, 0x83: 0x0192, 0x84: 0x201E, 0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021, 0x88: 0x02C6,
            0x89: 0x2030, 0x8A: 0x0160, 0x8B: 0x2039, 0x8C: 0x0152, 0x8E: 0x017D, 0x91: 0x2018, 0x92: 0x2019, 0x93: 0x201C,
            0x94: 0x201D, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02DC, 0x99: 0x2122, 0x9A: 0x0161, 0x9B: 0x203A,
            0x9C: 0x0153, 0x9E: 0x017E, 0x9F: 0x0178,
        ]
        return high[byte].flatMap(Unicode.Scalar.init) ?? Unicode.Scalar(byte)
    }

    /// A header value with its RFC 2047 encoded words (`=?charset?B|Q?…?=`) decoded; white space
    /// between two encoded words is dropped, as the RFC says.
    static func decode(_ value: String) -> String {
        guard value.contains("=?") else { return value }
        var out = ""
        var rest = Substring(value)
        var lastWasEncoded = false
        while let start = rest.range(of: "=?") {
            let before = rest[..<start.lowerBound]
            guard let word = encodedWord(rest[start.lowerBound...]) else {
                out += before + "=?"
                rest = rest[start.upperBound...]
                lastWasEncoded = false
                continue
            }
            if !(lastWasEncoded && before.allSatisfy(\.isWhitespace)) { out += before }
            out += word.text
            rest = rest[word.end...]
            lastWasEncoded = true
        }
        return out + rest
    }

    private static func encodedWord(_ text: Substring) -> (text: String, end: Substring.Index)? {
        let pieces = text.dropFirst(2).split(separator: "?", maxSplits: 3, omittingEmptySubsequences: false)
        guard pieces.count == 4, pieces[3].hasPrefix("=") else { return nil }
        let charset = String(pieces[0]), encoding = pieces[1].uppercased(), payload = pieces[2]
        let bytes: [UInt8]?
        switch encoding {
        case "B": bytes = Digest.base64URLDecode(payload)  // (it reads standard base64 too)
        case "Q": bytes = quoted(payload)
        default: bytes = nil
        }
        guard let bytes else { return nil }
        return (string(bytes, charset: charset), pieces[3].index(after: pieces[3].startIndex))
    }

    /// RFC 2047 "Q": `_` is a space, `=XX` a byte.
    private static func quoted(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        var i = text.utf8.startIndex
        let utf8 = text.utf8
        while i < utf8.endIndex {
            let byte = utf8[i]
            if byte == UInt8(ascii: "_") {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "=") {
                let hex = utf8[utf8.index(after: i)...].prefix(2)
                guard hex.count == 2, let value = UInt8(String(decoding: hex, as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
                i = utf8.index(i, offsetBy: 2)
            } else {
                bytes.append(byte)
            }
            i = utf8.index(after: i)
        }
        return bytes
    }

    /// A parameter (`charset`, `boundary`) of a structured header.
    static func parameter(_ name: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let kv = piece.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0].lowercased() == name { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }
}
