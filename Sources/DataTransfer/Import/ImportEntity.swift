/// What an import writes: contacts, leads or accounts. Each has its fields, the one that
/// identifies a record (dedupe key) and the header synonyms that suggest a mapping.
public enum ImportEntity: String, Sendable, Hashable, CaseIterable {
    case contacts
    case leads
    case accounts

    /// The fields a column may map to (besides `custom.<key>` where `allowsCustom`).
    public var fields: [String] {
        switch self {
        case .contacts: ["email", "first_name", "last_name", "phone", "title", "account.name", "tags"]
        case .leads: ["email", "first_name", "last_name", "company", "status"]
        case .accounts: ["name", "domain"]
        }
    }

    /// The field every row needs, by which records are found again (case-insensitive).
    public var keyField: String { self == .accounts ? "name" : "email" }

    /// Whether unknown columns go to `custom.<key>` (only contacts keep custom fields).
    public var allowsCustom: Bool { self == .contacts }

    /// Headers (lower-cased, without spaces or punctuation) to fields.
    var synonyms: [String: String] {
        let person: [String: String] = [
            "email": "email", "emailaddress": "email", "mail": "email", "e-mail": "email", "workemail": "email",
            "firstname": "first_name", "givenname": "first_name", "forename": "first_name", "first": "first_name",
            "lastname": "last_name", "surname": "last_name", "familyname": "last_name", "last": "last_name",
        ]
        let companies = ["company", "companyname", "account", "accountname", "organization", "organisation", "employer"]
        switch self {
        case .contacts:
            return person.merging([
                "phone": "phone", "phonenumber": "phone", "mobile": "phone", "telephone": "phone", "tel": "phone", "mobilephone": "phone",
                "title": "title", "jobtitle": "title", "position": "title", "role": "title",
                "tags": "tags", "tag": "tags", "labels": "tags",
            ]) { a, _ in a }.merging(companies.map { ($0, "account.name") }) { a, _ in a }
        case .leads:
            return person.merging(companies.map { ($0, "company") }) { a, _ in a }
                .merging(["status": "status", "leadstatus": "status", "stage": "status"]) { a, _ in a }
        case .accounts:
            return Dictionary(uniqueKeysWithValues: (companies + ["name"]).map { ($0, "name") })
                .merging(["domain": "domain", "website": "domain", "web": "domain", "url": "domain", "companydomain": "domain"]) { a, _ in a }
        }
    }
}

/// A field of one row that failed its check, with the row (the header is row 1).
public struct ImportProblem: Error, Hashable, Sendable, CustomStringConvertible {
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
