/// SQL with bound parameters, written by string interpolation: every interpolated value becomes
/// `$n` and is sent separately from the text, never concatenated into it.
///
///     let rows = try await db.query("SELECT id FROM contacts WHERE workspace_id = \(workspace) AND email = \(email)")
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation {
    public var sql: String
    /// Text-format values; nil is SQL NULL.
    public var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) { self.init(unsafeSQL: value) }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        /// Splices trusted SQL text (an identifier from code, never from input).
        public mutating func appendInterpolation(unescaped text: String) { sql += text }
    }
}
