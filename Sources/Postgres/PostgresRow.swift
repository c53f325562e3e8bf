/// One result row, decoded by column position or name.
public struct PostgresRow: Sendable {
    public let columns: [String]
    /// Text-format values; nil is SQL NULL.
    public let values: [String?]

    public init(columns: [String], values: [String?]) {
        self.columns = columns
        self.values = values
    }

    /// The column at `index`, decoded. A NULL decodes only into an `Optional`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws(PostgresError) -> T {
        guard index < values.count else { throw PostgresError(.decoding, "no column \(index)") }
        guard let text = values[index] else { throw PostgresError(.decoding, "column \(columns[index]) is NULL") }
        return try T(postgresText: text)
    }

    /// The column at `index`, or nil when it is NULL.
    public func decodeIfPresent<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws(PostgresError) -> T? {
        guard index < values.count else { throw PostgresError(.decoding, "no column \(index)") }
        guard let text = values[index] else { return nil }
        return try T(postgresText: text)
    }

    /// The column named `name`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws(PostgresError) -> T {
        guard let index = columns.firstIndex(of: name) else { throw PostgresError(.decoding, "no column \(name)") }
        return try decode(type, at: index)
    }

    /// The columns in order as a tuple: `let (id, email) = try row.decode((UUID, String).self)`.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws(PostgresError) -> (repeat each T) {
        var index = 0
        func next<U: PostgresDecodable>(_ type: U.Type) throws(PostgresError) -> U {
            defer { index += 1 }
            return try decode(type, at: index)
        }
        return (repeat try next((each T).self))
    }
}

/// A `LISTEN` notification.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String

    public init(channel: String, payload: String) {
        self.channel = channel
        self.payload = payload
    }
}
