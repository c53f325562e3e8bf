/// A streaming RFC 4180 reader: quoted fields with embedded delimiters, newlines and doubled quotes;
/// CRLF or LF; a UTF-8 byte-order mark skipped; blank lines skipped; strict UTF-8. Bytes go in as
/// they arrive (`feed`), records come out with the physical row they started on (the header is
/// row 1), so the whole file is never held.
///
/// What spreadsheets write is read as they read it: a quote inside a field that did not start with
/// one (`5" screen`) is a literal quote, as in Excel, LibreOffice and Python's `csv`, and the
/// record carries a warning naming the field. Quoted fields stay strict: text after the closing
/// quote, or a quote never closed, is an error.
public struct CSVReader: Sendable {
    /// A record and the physical row (line) it starts on.
    public struct Record: Sendable, Hashable {
        public var row: Int
        public var fields: [String]
        /// What was read leniently, in field order.
        public var warnings: [Warning]

        public init(row: Int, fields: [String], warnings: [Warning] = []) {
            self.row = row
            self.fields = fields
            self.warnings = warnings
        }
    }

    /// Something a spreadsheet would accept that RFC 4180 does not, read as the spreadsheet does.
    public enum Warning: Hashable, Sendable, CustomStringConvertible {
        /// A quote inside the unquoted field at this index (0-based) was kept as a literal quote.
        case literalQuote(field: Int)

        public var field: Int {
            switch self { case .literalQuote(let field): field }
        }

        public var description: String {
            switch self {
            case .literalQuote: "a quote inside an unquoted cell was read as a literal quote"
            }
        }
    }

    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        case unclosedQuote(row: Int)
        case invalidUTF8(row: Int)
        case textAfterClosingQuote(row: Int)
        /// A cell longer than `Limits.maximumFieldBytes` (field: 1-based column).
        case fieldTooLong(row: Int, field: Int, limit: Int)
        /// A row with more cells than `Limits.maximumFields`.
        case tooManyFields(row: Int, limit: Int)

        public var row: Int {
            switch self {
            case .unclosedQuote(let row), .invalidUTF8(let row), .textAfterClosingQuote(let row),
                 .fieldTooLong(let row, _, _), .tooManyFields(let row, _): row
            }
        }

        public var description: String {
            switch self {
            case .unclosedQuote(let row): "row \(row): a quoted field is never closed"
            case .invalidUTF8(let row): "row \(row): the text is not valid UTF-8"
            case .textAfterClosingQuote(let row): "row \(row): text after a closing quote (a quote inside a quoted field must be doubled)"
            case .fieldTooLong(let row, let field, let limit): "row \(row): column \(field) is longer than \(limit) bytes"
            case .tooManyFields(let row, let limit): "row \(row): more than \(limit) columns"
            }
        }
    }

    /// What one row may hold, so a hostile file cannot make the reader hold it whole (an unclosed
    /// quote reads the rest of the file as one cell until the cap).
    public struct Limits: Sendable, Hashable {
        /// A spreadsheet cell holds at most 32,767 characters; 128 KiB is that in any UTF-8.
        public var maximumFieldBytes = 128 * 1024
        public var maximumFields = 1024

        public init() {}
    }

    public let delimiter: UInt8
    public var limits: Limits
    private var field: [UInt8] = []
    private var fields: [String] = []
    private var warnings: [Warning] = []
    private var inQuotes = false
    private var afterQuote = false
    private var fieldWasQuoted = false
    private var pendingCR = false
    private var line = 1
    private var recordRow = 1
    private var atStart = true
    private var bomChecked = false
    private var bomBuffer: [UInt8] = []

    public init(delimiter: UInt8 = UInt8(ascii: ","), limits: Limits = Limits()) {
        self.delimiter = delimiter
        self.limits = limits
    }

    /// The delimiter of a file from its first line: comma, semicolon or tab, whichever appears most
    /// outside quotes (comma on a tie or none).
    public static func detectDelimiter(_ prefix: some Collection<UInt8>) -> UInt8 {
        var counts: [UInt8: Int] = [UInt8(ascii: ","): 0, UInt8(ascii: ";"): 0, UInt8(ascii: "\t"): 0]
        var quoted = false
        var atFieldStart = true
        var justClosed = false
        var bytes = Array(prefix)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        for byte in bytes {
            // As the reader does: a quote opens a quoted field only at a field's start, and a
            // doubled quote inside one is a quote, not its end.
            if byte == UInt8(ascii: "\"") {
                if quoted {
                    quoted = false
                    justClosed = true
                } else if atFieldStart || justClosed {
                    quoted = true
                    justClosed = false
                }
                atFieldStart = false
                continue
            }
            justClosed = false
            if quoted { continue }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
            atFieldStart = counts[byte] != nil
            if atFieldStart { counts[byte]! += 1 }
        }
        let comma = counts[UInt8(ascii: ",")]!
        let best = counts.max { a, b in a.value == b.value ? a.key != UInt8(ascii: ",") && b.key == UInt8(ascii: ",") : a.value < b.value }!
        return best.value > comma ? best.key : UInt8(ascii: ",")
    }

    /// Parses `bytes`, returning the records completed by them.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(Failure) -> [Record] {
        var records: [Record] = []
        var input = Array(bytes)
        if !bomChecked {
            bomBuffer += input
            if bomBuffer.count < 3 && bomBuffer == Array([0xEF, 0xBB, 0xBF].prefix(bomBuffer.count)) { return [] }
            input = bomBuffer.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bomBuffer.dropFirst(3)) : bomBuffer
            bomBuffer = []
            bomChecked = true
        }
        for byte in input {
            if pendingCR {
                pendingCR = false
                if byte == UInt8(ascii: "\n") { continue }  // CRLF: the record already ended at CR
            }
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    inQuotes = false
                    afterQuote = true
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                    if field.count > limits.maximumFieldBytes { throw tooLong() }
                }
                continue
            }
            if afterQuote {
                afterQuote = false
                if byte == UInt8(ascii: "\"") {  // a doubled quote inside a quoted field
                    field.append(byte)
                    inQuotes = true
                    continue
                }
                guard byte == delimiter || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") else {
                    throw .textAfterClosingQuote(row: recordRow)
                }
            }
            switch byte {
            case UInt8(ascii: "\""):
                if field.isEmpty && !fieldWasQuoted {
                    inQuotes = true
                    fieldWasQuoted = true
                } else {
                    field.append(byte)
                    if warnings.last != .literalQuote(field: fields.count) { warnings.append(.literalQuote(field: fields.count)) }
                }
                atStart = false
            case delimiter:
                try endField()
                atStart = false
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                if byte == UInt8(ascii: "\r") { pendingCR = true }
                if let record = try endRecord() { records.append(record) }
                line += 1
                recordRow = line
            default:
                field.append(byte)
                if field.count > limits.maximumFieldBytes { throw tooLong() }
                atStart = false
            }
        }
        return records
    }

    /// Ends the input: the last record (without a final newline), or an unclosed quote.
    public mutating func finish() throws(Failure) -> Record? {
        if !bomChecked {
            bomChecked = true
            let rest = bomBuffer
            bomBuffer = []
            // Under three bytes in all: at most one record ends inside them, and then nothing is left.
            if let record = try feed(rest).first { return record }
        }
        if inQuotes { throw .unclosedQuote(row: recordRow) }
        return try endRecord()
    }

    private func tooLong() -> Failure {
        .fieldTooLong(row: recordRow, field: fields.count + 1, limit: limits.maximumFieldBytes)
    }

    private mutating func endField() throws(Failure) {
        guard fields.count < limits.maximumFields else { throw .tooManyFields(row: recordRow, limit: limits.maximumFields) }
        guard let text = String(validating: field, as: UTF8.self) else { throw .invalidUTF8(row: recordRow) }
        fields.append(text)
        field.removeAll(keepingCapacity: true)
        fieldWasQuoted = false
    }

    private mutating func endRecord() throws(Failure) -> Record? {
        defer { atStart = true }
        if atStart && field.isEmpty && fields.isEmpty && !fieldWasQuoted { return nil }  // a blank line
        try endField()
        defer {
            fields.removeAll(keepingCapacity: true)
            warnings.removeAll()
        }
        return Record(row: recordRow, fields: fields, warnings: warnings)
    }
}
