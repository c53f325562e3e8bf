internal import CCurl
public import Foundation

/// An e-mail to send: envelope and the RFC 5322 message (headers, blank line, body).
public struct OutboundMail: Sendable, Hashable {
    public var from: String
    public var recipients: [String]
    public var message: [UInt8]

    public init(from: String, recipients: [String], message: [UInt8]) {
        self.from = from
        self.recipients = recipients
        self.message = message
    }

    /// A plain-text message with the usual headers; lines end in CRLF.
    public static func text(from: String, to: [String], subject: String, body: String, date: Date = Date(),
                            messageID: String = "<\(UUID().uuidString.lowercased())@nexa.invalid>") -> OutboundMail {
        let headers = [
            "From: \(from)", "To: \(to.joined(separator: ", "))", "Subject: \(subject)", "Date: \(MessageFormat.date(date))",
            "Message-ID: \(messageID)", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        return OutboundMail(from: from, recipients: to, message: Array((headers.joined(separator: "\r\n") + "\r\n\r\n" + MessageFormat.crlf(body) + "\r\n").utf8))
    }

    /// A message with a text and/or an HTML body (both: `multipart/alternative`), Cc, and the
    /// threading headers of a reply. Non-ASCII subjects are RFC 2047 encoded words; bodies are
    /// UTF-8 in base64, so no line is ever too long. Lines end in CRLF.
    /// - Parameters:
    ///   - messageID: `<left@right>`, ours, so a retried send can be recognised.
    ///   - inReplyTo: the Message-ID answered; `references` the thread's earlier ones.
    public static func compose(from: String, to: [String], cc: [String] = [], subject: String, text: String?, html: String?,
                               date: Date = Date(), messageID: String, inReplyTo: String? = nil, references: [String] = []) -> OutboundMail {
        var headers = ["From: \(from)", "To: \(to.joined(separator: ", "))"]
        if !cc.isEmpty { headers.append("Cc: \(cc.joined(separator: ", "))") }
        headers += ["Subject: \(MessageFormat.encodedWords(subject))", "Date: \(MessageFormat.date(date))", "Message-ID: \(messageID)"]
        if let inReplyTo { headers.append("In-Reply-To: \(inReplyTo)") }
        if !references.isEmpty { headers.append("References: \(references.joined(separator: " "))") }
        headers.append("MIME-Version: 1.0")
        func part(_ type: String, _ content: String) -> [String] {
            ["Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", "", MessageFormat.base64Lines(Array(MessageFormat.crlf(content).utf8))]
        }
        var lines = headers
        switch (text, html) {
        case (let text?, let html?):
            let boundary = "nexa-" + UUID().uuidString.lowercased()
            lines += ["Content-Type: multipart/alternative;", " boundary=\"\(boundary)\"", "", "--\(boundary)"] + part("text/plain", text)
                + ["--\(boundary)"] + part("text/html", html) + ["--\(boundary)--"]
        case (nil, let html?):
            lines += part("text/html", html)
        default:
            lines += part("text/plain", text ?? "")
        }
        return OutboundMail(from: from, recipients: to + cc, message: Array((lines.joined(separator: "\r\n") + "\r\n").utf8))
    }
}

/// The pieces of RFC 5322 / 2045 / 2047 formatting the composers share.
enum MessageFormat {
    static func date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }

    static func crlf(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
    }

    /// Base64 in lines of 76 characters (RFC 2045).
    static func base64Lines(_ bytes: [UInt8]) -> String {
        let encoded = Data(bytes).base64EncodedString()
        return stride(from: 0, to: encoded.count, by: 76).map { start in
            let from = encoded.index(encoded.startIndex, offsetBy: start)
            return String(encoded[from..<(encoded.index(from, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex)])
        }.joined(separator: "\r\n")
    }

    /// Printable ASCII as it is; anything else as UTF-8 "B" encoded words of at most 75 characters,
    /// split between characters, never inside one.
    static func encodedWords(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value > 126 || $0.value < 32 }) else { return text }
        var words: [[UInt8]] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 36 {  // 36 bytes → 48 base64 characters, 60 with `=?UTF-8?B?` and `?=`: short lines after any header name
                words.append(chunk)
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?UTF-8?B?\(Data($0).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }
}

/// Sends plain-text notifications from one address through one server.
public struct Mailer: Sendable {
    public var http: HTTPClient
    public var server: MailServer
    public var from: String

    public init(http: HTTPClient, server: MailServer, from: String = "Nexa <noreply@nexa.invalid>") {
        self.http = http
        self.server = server
        self.from = from
    }

    /// - Throws: `HTTPClientError` when the server refused the message or could not be reached.
    public func send(to recipient: String, subject: String, body: String) async throws {
        try await http.sendMail(.text(from: from, to: [recipient], subject: subject, body: body), via: server)
    }
}

/// Where mail goes: `smtp://host:port` (optionally STARTTLS) or `smtps://host:port`.
public struct MailServer: Sendable, Hashable {
    public var url: String
    public var username: String?
    public var password: String?
    /// Refuse to send unless the connection is encrypted (STARTTLS or smtps).
    public var requireTLS: Bool

    public init(url: String, username: String? = nil, password: String? = nil, requireTLS: Bool = false) {
        self.url = url
        self.username = username
        self.password = password
        self.requireTLS = requireTLS
    }
}

extension HTTPClient {
    /// Sends one message by SMTP through libcurl.
    /// - Throws: `HTTPClientError` when the server refused it or could not be reached.
    public func sendMail(_ mail: OutboundMail, via server: MailServer, timeout: Duration = .seconds(30)) async throws {
        let connectTimeout = configuration.connectTimeout
        try await withHandle { handle in
            try handle.send(mail, via: server, timeout: timeout, connectTimeout: connectTimeout)
        }
    }
}

extension EasyHandle {
    func send(_ mail: OutboundMail, via server: MailServer, timeout: Duration, connectTimeout: Duration) throws(HTTPClientError) {
        curl_easy_reset(curl)
        guard server.url.hasPrefix("smtp://") || server.url.hasPrefix("smtps://") else {
            throw HTTPClientError(.invalidURL, "only smtp and smtps URLs are supported")
        }
        var recipients: UnsafeMutablePointer<curl_slist>? = nil
        for r in mail.recipients { recipients = curl_slist_append(recipients, "<\(r)>") }
        defer { curl_slist_free_all(recipients) }
        let reader = MessageReader(mail.message)
        let readerPointer = Unmanaged.passUnretained(reader).toOpaque()
        nexa_curl_setopt_string(curl, CURLOPT_URL, server.url)
        nexa_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
        nexa_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, Int(timeout.milliseconds))
        nexa_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout.milliseconds))
        nexa_curl_setopt_string(curl, CURLOPT_MAIL_FROM, "<\(mail.from)>")
        nexa_curl_setopt_list(curl, CURLOPT_MAIL_RCPT, recipients)
        if let username = server.username { nexa_curl_setopt_string(curl, CURLOPT_USERNAME, username) }
        if let password = server.password { nexa_curl_setopt_string(curl, CURLOPT_PASSWORD, password) }
        if server.requireTLS { nexa_curl_setopt_long(curl, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)) }
        nexa_curl_setopt_long(curl, CURLOPT_UPLOAD, 1)
        nexa_curl_setopt_offset(curl, CURLOPT_INFILESIZE_LARGE, curl_off_t(mail.message.count))
        nexa_curl_setopt_data_callback(curl, CURLOPT_READFUNCTION, { buffer, size, count, context in
            Unmanaged<MessageReader>.fromOpaque(context!).takeUnretainedValue().read(into: buffer, size * count)
        })
        nexa_curl_setopt_pointer(curl, CURLOPT_READDATA, readerPointer)
        let code = curl_easy_perform(curl)
        withExtendedLifetime(reader) {}
        guard code == CURLE_OK else {
            let text = String(cString: curl_easy_strerror(code))
            switch code {
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST: throw HTTPClientError(.couldNotConnect, text)
            case CURLE_OPERATION_TIMEDOUT: throw HTTPClientError(.timedOut, text)
            case CURLE_USE_SSL_FAILED, CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION: throw HTTPClientError(.tls, text)
            default: throw HTTPClientError(.transport, text)
            }
        }
    }
}

/// Feeds the message to libcurl's read callback.
final class MessageReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func read(into buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int {
        guard let buffer, offset < bytes.count else { return 0 }
        let n = min(capacity, bytes.count - offset)
        bytes.withUnsafeBufferPointer { source in
            UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }
}
