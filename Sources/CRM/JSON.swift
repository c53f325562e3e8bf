import Foundation

/// The JSON written to the CRM's `jsonb` columns: keys sorted, dates in ISO 8601.
enum JSON {
    static func encode(_ value: any Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A time for a `timestamptz` field of a JSON record: ISO 8601 with milliseconds (the default
    /// strategy would drop them).
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
