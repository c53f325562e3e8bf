import Foundation
import Sandbox

/// Mail for the `gmail/deliver` scenario control, built as real mail arrives: a text and/or HTML
/// body in a chosen charset, attachments, extra headers (bulk mail's `List-Unsubscribe`,
/// `Precedence`, `Auto-Submitted`), and replies that join a message's thread with `In-Reply-To`
/// and `References`. Non-ASCII subjects are RFC 2047 words; every body part is base64.
struct ScenarioMail {
    struct Problem: Error {
        var message: String
    }

    /// The RFC 5322 message for `body` (`from`, `to`, `subject`, `text`, `html`, `charset`,
    /// `attachments: [{filename, content_type, text | data (base64)}]`, `headers: {name: value}`),
    /// with `replyTo`'s Message-ID and references when it answers one.
    static func raw(_ body: JSON, to: String, replyTo: (messageID: String?, references: String?)?) throws(Problem) -> [UInt8] {
        let charset = body["charset"].stringValue ?? "UTF-8"
        guard let encoding = encoding(charset) else { throw Problem(message: "unknown charset \(charset)") }
        var headers = ["From: \(body["from"].stringValue ?? "someone@example.com")", "To: \(to)",
                       "Subject: \(encodedWords(body["subject"].stringValue ?? ""))",
                       "Date: \(httpDate(Date()))", "Message-ID: <\(UUID().uuidString.lowercased())@sandbox.invalid>", "MIME-Version: 1.0"]
        if let replyTo, let id = replyTo.messageID {
            headers.append("In-Reply-To: \(id)")
            headers.append("References: \([replyTo.references, id].compactMap { $0 }.joined(separator: " "))")
        }
        for (name, value) in body["headers"].objectValue ?? [:] {
            guard let value = value.stringValue, !name.contains(where: \.isNewline), !value.contains(where: \.isNewline) else { continue }
            headers.append("\(name): \(value)")
        }
        func part(_ type: String, _ text: String) throws(Problem) -> [String] {
            guard let data = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n").data(using: encoding) else {
                throw Problem(message: "the text cannot be written in \(charset)")
            }
            return ["Content-Type: \(type); charset=\(charset)", "Content-Transfer-Encoding: base64", "", base64(data)]
        }
        var bodyPart: [String]
        switch (body["text"].stringValue, body["html"].stringValue) {
        case (let text?, let html?):
            let boundary = "alt-" + UUID().uuidString.lowercased()
            bodyPart = ["Content-Type: multipart/alternative; boundary=\"\(boundary)\"", "", "--\(boundary)"] + (try part("text/plain", text))
                + ["--\(boundary)"] + (try part("text/html", html)) + ["--\(boundary)--"]
        case (nil, let html?): bodyPart = try part("text/html", html)
        case (let text, nil): bodyPart = try part("text/plain", text ?? "")
        }
        let attachments = body["attachments"].arrayValue ?? []
        guard !attachments.isEmpty else { return Array((headers + bodyPart).joined(separator: "\r\n").utf8) }
        let boundary = "mixed-" + UUID().uuidString.lowercased()
        var lines = headers + ["Content-Type: multipart/mixed; boundary=\"\(boundary)\"", "", "--\(boundary)"] + bodyPart
        for attachment in attachments {
            let name = attachment["filename"].stringValue ?? "attachment.bin"
            guard let data = attachment["data"].stringValue.flatMap({ Data(base64Encoded: $0) }) ?? attachment["text"].stringValue.map({ Data($0.utf8) }) else {
                throw Problem(message: "an attachment needs text or base64 data")
            }
            lines += ["--\(boundary)", "Content-Type: \(attachment["content_type"].stringValue ?? "application/octet-stream"); name=\"\(name)\"",
                      "Content-Disposition: attachment; filename=\"\(name)\"", "Content-Transfer-Encoding: base64", "", base64(data)]
        }
        lines.append("--\(boundary)--")
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    static func encoding(_ charset: String) -> String.Encoding? {
        switch charset.lowercased() {
        case "utf-8", "utf8": .utf8
        case "us-ascii", "ascii": .ascii
        case "iso-8859-1", "latin1": .isoLatin1
        case "iso-8859-2": .isoLatin2
        case "windows-1252", "cp1252": .windowsCP1252
        case "windows-1251": .windowsCP1251
        case "shift_jis", "shift-jis": .shiftJIS
        case "iso-2022-jp": .iso2022JP
        case "euc-jp": .japaneseEUC
        case "utf-16": .utf16
        default: nil
        }
    }

    private static func base64(_ data: Data) -> String {
        let encoded = data.base64EncodedString()
        return stride(from: 0, to: encoded.count, by: 76).map { start in
            let from = encoded.index(encoded.startIndex, offsetBy: start)
            return String(encoded[from..<(encoded.index(from, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex)])
        }.joined(separator: "\r\n")
    }

    private static func encodedWords(_ text: String) -> String {
        text.unicodeScalars.allSatisfy({ $0.isASCII }) ? text : "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }
}
