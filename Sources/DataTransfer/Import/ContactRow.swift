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
            guard let index = mapping.columns.first(where: { $0.value == field })?.key, index < fields.count else { return nil }
            let value = CSVWriter.removingFormulaGuard(fields[index].trimmingCharacters(in: .whitespacesAndNewlines))
            return value.isEmpty ? nil : value
        }
        guard let email = cell("email") else { throw Problem(row: row, field: "email", message: "is required") }
        guard Self.isEmail(email) else { throw Problem(row: row, field: "email", message: "\"\(email)\" is not an email address") }
        self.email = email.lowercased()
        firstName = cell("first_name")
        lastName = cell("last_name")
        title = cell("title")
        accountName = cell("account.name")
        tags = (cell("tags") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let raw = cell("phone") {
            guard let e164 = Self.e164(raw) else { throw Problem(row: row, field: "phone", message: "\"\(raw)\" is not a phone number") }
            phone = e164
        }
        var custom: [String: String] = [:]
        for (index, field) in mapping.columns where field.hasPrefix("custom.") && index < fields.count {
            let value = CSVWriter.removingFormulaGuard(fields[index].trimmingCharacters(in: .whitespacesAndNewlines))
            if !value.isEmpty { custom[String(field.dropFirst(7))] = value }
        }
        self.custom = custom
    }

    /// `local@domain.tld`: one @, no spaces, a dot in the domain, sane lengths.
    static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64, text.count <= 254,
              !text.contains(where: { $0.isWhitespace || $0 == "," || $0 == ";" || $0 == "<" || $0 == ">" }) else { return false }
        let domain = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return domain.count >= 2 && domain.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") } && (domain.last?.count ?? 0) >= 2
    }

    /// E.164 (`+<country><number>`, 8–15 digits) from common spellings: `+44 20 7946 0958`,
    /// `0044 …`, `(415) 555-2671` (ten digits without a country read as North American, +1).
    static func e164(_ text: String) -> String? {
        let allowed = Set("0123456789+()-. /")
        guard text.allSatisfy({ allowed.contains($0) }) else { return nil }
        var digits = text.filter(\.isNumber)
        let international = text.trimmingCharacters(in: .whitespaces).hasPrefix("+") || digits.hasPrefix("00")
        if digits.hasPrefix("00") { digits.removeFirst(2) }
        if !international {
            if digits.count == 10 { digits = "1" + digits } else if digits.count == 11, digits.hasPrefix("1") {} else { return nil }
        }
        guard (8...15).contains(digits.count), digits.first != "0" else { return nil }
        return "+" + digits
    }
}
