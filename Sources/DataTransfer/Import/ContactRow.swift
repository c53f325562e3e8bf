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

    public typealias Problem = ImportProblem

    /// Reads `fields` through `mapping`; empty cells are absent (an update never erases with them).
    public init(row: Int, fields: [String], mapping: ImportMapping) throws(Problem) {
        self.row = row
        func cell(_ field: String) -> String? { mapping.cell(field, of: fields) }
        guard let email = cell("email") else { throw Problem(row: row, field: "email", message: "is required") }
        guard Cells.isEmail(email) else { throw Problem(row: row, field: "email", message: "\"\(email)\" is not an email address") }
        self.email = email.lowercased()
        firstName = cell("first_name")
        lastName = cell("last_name")
        title = cell("title")
        accountName = cell("account.name")
        tags = (cell("tags") ?? "").split(separator: ",").map { Cells.trimmed(String($0)) }.filter { !$0.isEmpty }
        if let raw = cell("phone") {
            guard let e164 = Cells.e164(raw) else { throw Problem(row: row, field: "phone", message: "\"\(raw)\" is not a phone number") }
            phone = e164
        }
        var custom: [String: String] = [:]
        for (index, field) in mapping.columns where field.hasPrefix("custom.") && index < fields.count {
            let value = CSVWriter.removingFormulaGuard(Cells.trimmed(fields[index]))
            if !value.isEmpty { custom[String(field.dropFirst(7))] = value }
        }
        self.custom = custom
    }
}
