import CSV
import Foundation

/// One CSV row read through a mapping and checked.
public struct ContactRow: Sendable, Hashable {
    public var row: Int
    public var email: String
    public var firstName: String?
    public var lastName: String?
    public var phone: String?
    public var title: String?
    public var accountName: String?
    public var tags: [String]
    public var custom: [String: String]

    /// A field that failed its check, with the row (the header is row 1).
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var row: Int
        public var field: String
        public var message: String
        public var description: String { "row \(row), \(field): \(message)" }

        public init(row: Int, field: String, message: String) {
            self.row = row
            self.field = field
            self.message = message
        }
    }

    /// Reads `fields` through `mapping`; empty cells are absent (an update never erases with them).
    public init(row: Int, fields: [String], mapping: ImportMapping) throws(Problem) {
        self.row = row
        func cell(_ field: String) -> String? {
            guard let index = mapping.fieldColumns[field], index < fields.count else { return nil }
            let value = CSVWriter.removingFormulaGuard(Self.trimmed(fields[index]))
            return value.isEmpty ? nil : value
        }
        guard let email = cell("email") else { throw Problem(row: row, field: "email", message: "is required") }
        guard Self.isEmail(email) else { throw Problem(row: row, field: "email", message: "\"\(email)\" is not an email address") }
        self.email = email.lowercased()
        firstName = cell("first_name")
        lastName = cell("last_name")
        title = cell("title")
        accountName = cell("account.name")
        tags = (cell("tags") ?? "").split(separator: ",").map { Self.trimmed(String($0)) }.filter { !$0.isEmpty }
        if let raw = cell("phone") {
            guard let e164 = Self.e164(raw) else { throw Problem(row: row, field: "phone", message: "\"\(raw)\" is not a phone number") }
            phone = e164
        }
        var custom: [String: String] = [:]
        for (index, field) in mapping.columns where field.hasPrefix("custom.") && index < fields.count {
            let value = CSVWriter.removingFormulaGuard(Self.trimmed(fields[index]))
            if !value.isEmpty { custom[String(field.dropFirst(7))] = value }
        }
        self.custom = custom
    }

    /// `text` without leading and trailing white space. ASCII white space is cut here; a cell
    /// that begins or ends with any non-ASCII byte (which may be a Unicode space) takes Foundation's path.
    static func trimmed(_ text: String) -> String {
        let bytes = text.utf8
        guard let first = bytes.first, let last = bytes.last else { return text }
        func space(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        if first >= 0x80 || last >= 0x80 { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard space(first) || space(last) else { return text }
        guard let start = bytes.firstIndex(where: { !space($0) }) else { return "" }
        let end = bytes.lastIndex(where: { !space($0) })!
        let inner = String(text[start...end])
        return inner.utf8.first! >= 0x80 || inner.utf8.last! >= 0x80 ? inner.trimmingCharacters(in: .whitespacesAndNewlines) : inner
    }

    /// `local@domain.tld`: one @, no spaces, a dot in the domain, sane lengths (in octets, as RFC 5321 counts).
    static func isEmail(_ text: String) -> Bool {
        let bytes = text.utf8
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at]
        let domain = bytes[bytes.index(after: at)...]
        guard !local.isEmpty, local.count <= 64, !domain.contains(UInt8(ascii: "@")) else { return false }
        for byte in bytes {
            switch byte {
            case 0...0x20, 0x7F, UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "<"), UInt8(ascii: ">"): return false
            default: continue
            }
        }
        if bytes.contains(where: { $0 >= 0x80 }), text.unicodeScalars.contains(where: \.properties.isWhitespace) { return false }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && $0.first != UInt8(ascii: "-") && $0.last != UInt8(ascii: "-") }
            && (labels.last?.count ?? 0) >= 2
    }

    /// E.164 (`+<country><number>`, 8–15 digits) from common spellings: `+44 20 7946 0958`,
    /// `0044 …`, `(415) 555-2671` (ten digits without a country read as North American, +1).
    static func e164(_ text: String) -> String? {
        var digits: [UInt8] = []
        var firstSymbol: UInt8?
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte)
            case UInt8(ascii: "+"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"): break
            case UInt8(ascii: " "): continue
            default: return nil
            }
            if firstSymbol == nil { firstSymbol = byte }
        }
        let zero = UInt8(ascii: "0")
        let international = firstSymbol == UInt8(ascii: "+") || digits.starts(with: [zero, zero])
        if digits.starts(with: [zero, zero]) { digits.removeFirst(2) }
        if !international {
            if digits.count == 10 { digits.insert(UInt8(ascii: "1"), at: 0) } else if digits.count == 11, digits.first == UInt8(ascii: "1") {} else { return nil }
        }
        guard (8...15).contains(digits.count), digits.first != zero else { return nil }
        return "+" + String(decoding: digits, as: UTF8.self)
    }
}
