import Foundation

/// Which CSV column feeds which field of the entity imported (`ImportEntity.fields`): for contacts
/// `email`, `first_name`, `last_name`, `phone`, `title`, `account.name` (the company), `tags`
/// (comma-separated) or `custom.<key>` for anything else.
public struct ImportMapping: Sendable, Hashable {
    /// Column index → field.
    public var columns: [Int: String] { didSet { fieldColumns = Self.inverted(columns) } }
    /// Field → column index: what each row's reading asks.
    private(set) var fieldColumns: [String: Int]

    public init(columns: [Int: String]) {
        self.columns = columns
        fieldColumns = Self.inverted(columns)
    }

    private static func inverted(_ columns: [Int: String]) -> [String: Int] {
        Dictionary(columns.map { ($0.value, $0.key) }, uniquingKeysWith: min)
    }

    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        case duplicateHeader(String)
        case unknownHeader(String)
        case unknownField(String)
        case noEmailColumn
        case noKeyColumn(String)
        case fieldMappedTwice(String)

        public var description: String {
            switch self {
            case .duplicateHeader(let h): "row 1: the header \"\(h)\" appears twice"
            case .unknownHeader(let h): "--map names a header the file does not have: \"\(h)\""
            case .unknownField(let f): "\"\(f)\" is not a field of this import"
            case .noEmailColumn: "no column maps to email, which every row needs"
            case .noKeyColumn(let field): "no column maps to \(field), which every row needs"
            case .fieldMappedTwice(let f): "two columns map to \(f)"
            }
        }
    }

    static func normalized(_ header: String) -> String {
        String(header.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) })
    }

    /// A mapping suggested from the headers: known names and synonyms to their fields, everything
    /// else to `custom.<normalised header>` (contacts) or left out (leads, accounts).
    public static func suggest(headers: [String], entity: ImportEntity = .contacts) throws(Failure) -> ImportMapping {
        try checkUnique(headers)
        var columns: [Int: String] = [:]
        var used = Set<String>()
        let synonyms = entity.synonyms
        for (i, header) in headers.enumerated() {
            let key = normalized(header)
            if let field = synonyms[key], !used.contains(field) {
                columns[i] = field
                used.insert(field)
            } else if !key.isEmpty, entity.allowsCustom {
                columns[i] = "custom." + header.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).joined(separator: "_")
            }
        }
        try requireKey(columns, entity)
        return ImportMapping(columns: columns)
    }

    private static func requireKey(_ columns: [Int: String], _ entity: ImportEntity) throws(Failure) {
        guard columns.values.contains(entity.keyField) else { throw entity.keyField == "email" ? .noEmailColumn : .noKeyColumn(entity.keyField) }
    }

    /// An explicit mapping (`"First Name=first_name"` …); unmapped headers are not imported.
    public static func explicit(_ pairs: [(header: String, field: String)], headers: [String],
                                entity: ImportEntity = .contacts) throws(Failure) -> ImportMapping {
        try checkUnique(headers)
        var columns: [Int: String] = [:]
        for (header, field) in pairs {
            guard let index = headers.firstIndex(where: { $0 == header }) ?? headers.firstIndex(where: { normalized($0) == normalized(header) }) else {
                throw .unknownHeader(header)
            }
            guard entity.fields.contains(field) || (entity.allowsCustom && field.hasPrefix("custom.") && field.count > 7) else {
                throw .unknownField(field)
            }
            guard !columns.values.contains(field) else { throw .fieldMappedTwice(field) }
            columns[index] = field
        }
        try requireKey(columns, entity)
        return ImportMapping(columns: columns)
    }

    private static func checkUnique(_ headers: [String]) throws(Failure) {
        var seen = Set<String>()
        for header in headers {
            let key = header.trimmingCharacters(in: .whitespaces).lowercased()
            guard seen.insert(key).inserted else { throw .duplicateHeader(header) }
        }
    }

    /// The set of headers a file has, order-free: the key under which a template is remembered.
    public static func signature(of headers: [String]) -> String {
        headers.map(normalized).sorted().joined(separator: "|")
    }
}
