import Foundation

/// The SMTP conversation of one connection (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET,
/// NOOP, QUIT), as a state machine that returns replies; no I/O, so it is tested on its own.
struct SMTPSession {
    enum State { case greeted, ready, mail, recipients, data }

    static let maximumMessageSize = 10 * 1024 * 1024

    private(set) var state: State = .greeted
    private var from = ""
    private var recipients: [String] = []
    private var data: [String] = []
    private var size = 0
    let hostname: String

    init(hostname: String) { self.hostname = hostname }

    var greeting: String { "220 \(hostname) ESMTP nexa-sandbox ready" }

    enum Action: Equatable {
        case reply(String)
        case deliver(from: String, recipients: [String], data: String)
        case close(String)
        case none
    }

    /// Handles one line (without CRLF).
    mutating func receive(_ line: String) -> Action {
        if state == .data {
            if line == "." {
                state = .ready
                let message = data.joined(separator: "\r\n") + "\r\n"
                defer { resetTransaction() }
                guard size <= Self.maximumMessageSize else { return .reply("552 5.3.4 Message size exceeds fixed limit") }
                return .deliver(from: from, recipients: recipients, data: message)
            }
            let unstuffed = line.hasPrefix(".") ? String(line.dropFirst()) : line  // RFC 5321 §4.5.2
            size += unstuffed.utf8.count + 2
            if size <= Self.maximumMessageSize { data.append(unstuffed) }
            return .none
        }
        let verb = line.prefix { $0 != " " }.uppercased()
        let argument = line.dropFirst(verb.count).trimmingCharacters(in: .whitespaces)
        switch verb {
        case "EHLO":
            state = .ready
            resetTransaction()
            return .reply("250-\(hostname) greets \(argument)\r\n250-SIZE \(Self.maximumMessageSize)\r\n250-8BITMIME\r\n250 SMTPUTF8")
        case "HELO":
            state = .ready
            resetTransaction()
            return .reply("250 \(hostname)")
        case "MAIL":
            guard state != .greeted else { return .reply("503 5.5.1 Send EHLO first") }
            guard let address = Self.address(argument, prefix: "FROM:") else { return .reply("501 5.5.4 Syntax: MAIL FROM:<address>") }
            resetTransaction()
            from = address
            state = .mail
            return .reply("250 2.1.0 OK")
        case "RCPT":
            guard state == .mail || state == .recipients else { return .reply("503 5.5.1 Need MAIL before RCPT") }
            guard let address = Self.address(argument, prefix: "TO:"), !address.isEmpty else {
                return .reply("501 5.5.4 Syntax: RCPT TO:<address>")
            }
            recipients.append(address)
            state = .recipients
            return .reply("250 2.1.5 OK")
        case "DATA":
            guard state == .recipients else { return .reply("503 5.5.1 Need RCPT before DATA") }
            state = .data
            return .reply("354 End data with <CR><LF>.<CR><LF>")
        case "RSET":
            resetTransaction()
            if state != .greeted { state = .ready }
            return .reply("250 2.0.0 OK")
        case "NOOP": return .reply("250 2.0.0 OK")
        case "QUIT": return .close("221 2.0.0 Bye")
        case "VRFY": return .reply("252 2.1.5 Cannot VRFY user")
        default: return .reply("502 5.5.2 Command not recognized")
        }
    }

    private mutating func resetTransaction() {
        from = ""
        recipients = []
        data = []
        size = 0
    }

    /// `FROM:<a@b> SIZE=123` → `a@b`.
    static func address(_ argument: String, prefix: String) -> String? {
        guard argument.uppercased().hasPrefix(prefix) else { return nil }
        let rest = argument.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        guard rest.hasPrefix("<"), let close = rest.firstIndex(of: ">") else { return nil }
        return String(rest[rest.index(after: rest.startIndex)..<close])
    }
}
