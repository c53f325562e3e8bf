/// Rows in the text format of `COPY … FROM STDIN`, built in memory: fields separated by tabs,
/// rows by newlines, backslash, tab, newline and carriage return escaped, `\N` for NULL.
public struct PostgresCopyRows: Sendable {
    /// What to hand to `copyIn`.
    public private(set) var bytes: [UInt8] = []
    private var rowStarted = false

    public init(reservingCapacity capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    /// The next field of the current row; nil is SQL NULL.
    public mutating func append(_ field: String?) {
        separate()
        guard let field else { return bytes += [UInt8(ascii: "\\"), UInt8(ascii: "N")] }
        let utf8 = field.utf8
        if !utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            return bytes.append(contentsOf: utf8)
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            default: bytes.append(byte)
            }
        }
    }

    /// The next field of the current row, a `bytea` (its hex form).
    public mutating func append(bytea: [UInt8]) {
        separate()
        // The hex form's leading backslash, itself escaped.
        bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\"), UInt8(ascii: "x")]
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 2 * bytea.count))
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { digits in
            bytes.withUnsafeMutableBufferPointer { out in
                var i = start
                for byte in bytea {
                    out[i] = digits[Int(byte >> 4)]
                    out[i + 1] = digits[Int(byte & 0xF)]
                    i += 2
                }
            }
        }
    }

    /// Ends the current row.
    public mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        rowStarted = false
    }

    private mutating func separate() {
        if rowStarted { bytes.append(UInt8(ascii: "\t")) }
        rowStarted = true
    }
}
