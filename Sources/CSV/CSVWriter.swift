/// Writes RFC 4180 CSV (CRLF line ends, fields quoted when they hold a delimiter, quote, CR or LF)
/// and neutralises spreadsheet formula injection: a cell starting with `=`, `+`, `-`, `@`, tab or
/// carriage return gets a leading apostrophe, so a spreadsheet shows it as text instead of running it.
public struct CSVWriter: Sendable {
    public let delimiter: UInt8

    public init(delimiter: UInt8 = UInt8(ascii: ",")) { self.delimiter = delimiter }

    /// One record, with its CRLF, appended to `out`.
    public func append(_ fields: [String], to out: inout [UInt8]) {
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(delimiter) }
            append(field: field, to: &out)
        }
        out += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
    }

    public func record(_ fields: [String]) -> [UInt8] {
        var out: [UInt8] = []
        append(fields, to: &out)
        return out
    }

    /// Whether a cell starting with `byte` would be taken for a formula by a spreadsheet.
    static func startsFormula(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "=") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "@") || byte == 0x09 || byte == 0x0D
    }

    /// Copies one record written by another CSV writer (PostgreSQL's `COPY … CSV`: fields quoted
    /// when needed, quotes doubled) to `out`, neutralising it as this writer would: a guard
    /// apostrophe before a cell's first character when that starts a formula — after the opening
    /// quote of a quoted cell — and ending it in CRLF like this writer's own records (PostgreSQL
    /// ends them in LF). Everything else is copied byte for byte.
    public func appendNeutralising(record: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var cellStart = true
        var quoted = false
        var i = 0
        let count = record.count
        out.reserveCapacity(out.count + count + 8)
        while i < count {
            let byte = record[i]
            if cellStart {
                cellStart = false
                if byte == UInt8(ascii: "\"") {
                    out.append(byte)
                    quoted = true
                    i += 1
                    // `""` right away is an empty cell; anything else is its first character.
                    if i < count, record[i] != UInt8(ascii: "\""), Self.startsFormula(record[i]) { out.append(UInt8(ascii: "'")) }
                    continue
                }
                if Self.startsFormula(byte) { out.append(UInt8(ascii: "'")) }
            }
            if !quoted && byte == UInt8(ascii: "\n") {
                out += [UInt8(ascii: "\r"), byte]  // the record's end, CRLF as this writer's own
                i += 1
                continue
            }
            out.append(byte)
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if i + 1 < count, record[i + 1] == UInt8(ascii: "\"") {
                        out.append(record[i + 1])  // a doubled quote inside the cell
                        i += 1
                    } else {
                        quoted = false
                    }
                }
            } else if byte == delimiter {
                cellStart = true
            }
            i += 1
        }
    }

    /// The value a neutralised cell stands for: the guard apostrophe before a formula character is
    /// dropped, so a file this writer produced imports back to exactly what was exported.
    public static func removingFormulaGuard(_ cell: String) -> String {
        let utf8 = cell.utf8
        guard utf8.count >= 2, utf8.first == UInt8(ascii: "'"), startsFormula(utf8[utf8.index(after: utf8.startIndex)]) else { return cell }
        return String(cell.dropFirst())
    }

    private func append(field: String, to out: inout [UInt8]) {
        var bytes = Array(field.utf8)
        if let first = bytes.first, Self.startsFormula(first) {
            bytes.insert(UInt8(ascii: "'"), at: 0)
        }
        let needsQuotes = bytes.contains { $0 == delimiter || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
        guard needsQuotes else { out += bytes; return }
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }
}
