public import Foundation

/// Rows in the binary format of `COPY … FROM STDIN (FORMAT binary)`, built in memory: each field
/// its length and its bytes as the type's receive function reads them. The server parses nothing
/// (no text to scan, no hex to decode), so this is the cheapest bulk path for `bytea` payloads.
///
/// Every row must have the field count given to ``init(fieldsPerRow:reservingCapacity:)``.
public struct PostgresBinaryCopyRows: Sendable {
    private var buffer: [UInt8] = []
    private let fieldsPerRow: Int16

    public init(fieldsPerRow: Int, reservingCapacity capacity: Int = 0) {
        self.fieldsPerRow = Int16(fieldsPerRow)
        buffer.reserveCapacity(19 + capacity + 2)
        // Signature, flags (no OIDs), header extension length.
        buffer += Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        append(Int32(0))
        append(Int32(0))
    }

    /// Starts the next row.
    public mutating func startRow() { append(fieldsPerRow) }

    /// A `uuid` field.
    public mutating func append(_ uuid: UUID) {
        append(Int32(16))
        withUnsafeBytes(of: uuid.uuid) { buffer.append(contentsOf: $0) }
    }

    /// A `text` field (UTF-8); nil is SQL NULL.
    public mutating func append(_ text: String?) {
        guard let text else { return append(Int32(-1)) }
        append(Int32(text.utf8.count))
        buffer.append(contentsOf: text.utf8)
    }

    /// A `jsonb` field from its JSON text in UTF-8 (the format's version byte, then the text).
    public mutating func append(jsonb utf8: [UInt8]) {
        append(Int32(utf8.count + 1))
        buffer.append(1)
        buffer.append(contentsOf: utf8)
    }

    /// A `bytea` field: the bytes as they are.
    public mutating func append(bytea: [UInt8]) {
        append(Int32(bytea.count))
        buffer.append(contentsOf: bytea)
    }

    /// What to hand to `copyIn`: the rows and the trailer.
    public consuming func finish() -> [UInt8] {
        append(Int16(-1))
        return buffer
    }

    private mutating func append(_ value: some FixedWidthInteger) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}
