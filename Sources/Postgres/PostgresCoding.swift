public import Foundation

/// A Swift value that binds as a text-format parameter.
public protocol PostgresEncodable: Sendable {
    var postgresText: String? { get }
}

/// A Swift value decoded from a text-format column.
public protocol PostgresDecodable {
    init(postgresText: String) throws(PostgresError)
}

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self }
    public init(postgresText: String) { self = postgresText }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self ? "t" : "f" }
    public init(postgresText: String) throws(PostgresError) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresError(.decoding, "not a boolean")
        }
    }
}

extension PostgresEncodable where Self: FixedWidthInteger {
    public var postgresText: String? { String(self) }
}

extension PostgresDecodable where Self: FixedWidthInteger {
    public init(postgresText: String) throws(PostgresError) {
        guard let v = Self(postgresText) else { throw PostgresError(.decoding, "not a \(Self.bitWidth)-bit integer") }
        self = v
    }
}

extension Int: PostgresEncodable, PostgresDecodable {}
extension Int32: PostgresEncodable, PostgresDecodable {}
extension Int64: PostgresEncodable, PostgresDecodable {}

extension Double: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { "\(self)" }
    public init(postgresText: String) throws(PostgresError) {
        guard let v = Double(postgresText) else { throw PostgresError(.decoding, "not a number") }
        self = v
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { uuidString.lowercased() }
    public init(postgresText: String) throws(PostgresError) {
        guard let v = UUID(uuidString: postgresText) else { throw PostgresError(.decoding, "not a UUID") }
        self = v
    }
}

extension Date: PostgresEncodable, PostgresDecodable {
    /// Binds as an ISO 8601 timestamp in UTC with microseconds (for `timestamptz`).
    public var postgresText: String? {
        let seconds = timeIntervalSince1970
        var whole = seconds.rounded(.down)
        var micros = Int(((seconds - whole) * 1_000_000).rounded())
        if micros == 1_000_000 { whole += 1; micros = 0 }
        var tm = tm()
        var t = time_t(whole)
        gmtime_r(&t, &tm)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
            tm.tm_hour, tm.tm_min, tm.tm_sec, micros
        )
    }

    /// Decodes `timestamptz` text as the server sends it (ISO style, any offset).
    public init(postgresText: String) throws(PostgresError) {
        // e.g. 2025-01-02 03:04:05.123456+00 or 2025-01-02 03:04:05+05:30
        let text = postgresText.replacingOccurrences(of: " ", with: "T")
        var main = text
        var offsetSeconds = 0
        if let signIndex = text.lastIndex(where: { $0 == "+" || $0 == "-" }), text.distance(from: text.startIndex, to: signIndex) > 10 {
            let sign = text[signIndex] == "-" ? -1 : 1
            let parts = text[text.index(after: signIndex)...].split(separator: ":").compactMap { Int($0) }
            offsetSeconds = sign * ((parts.first ?? 0) * 3600 + (parts.count > 1 ? parts[1] * 60 : 0) + (parts.count > 2 ? parts[2] : 0))
            main = String(text[..<signIndex])
        } else if text.hasSuffix("Z") {
            main = String(text.dropLast())
        }
        let dateTime = main.split(separator: "T")
        guard dateTime.count == 2 else { throw PostgresError(.decoding, "not a timestamp") }
        let d = dateTime[0].split(separator: "-").compactMap { Int($0) }
        let timeParts = dateTime[1].split(separator: ":")
        guard d.count == 3, timeParts.count == 3, let h = Int(timeParts[0]), let m = Int(timeParts[1]),
              let s = Double(timeParts[2]) else { throw PostgresError(.decoding, "not a timestamp") }
        var tm = tm()
        tm.tm_year = Int32(d[0] - 1900)
        tm.tm_mon = Int32(d[1] - 1)
        tm.tm_mday = Int32(d[2])
        tm.tm_hour = Int32(h)
        tm.tm_min = Int32(m)
        tm.tm_sec = 0
        let base = timegm(&tm)
        self = Date(timeIntervalSince1970: Double(base) + s - Double(offsetSeconds))
    }
}

extension Array: PostgresEncodable where Element == UInt8 {
    /// Binds as `bytea` hex.
    public var postgresText: String? {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 2 + count * 2) { out in
            out[0] = UInt8(ascii: "\\")
            out[1] = UInt8(ascii: "x")
            digits.withUTF8Buffer { hex in
                for (i, byte) in self.enumerated() {
                    out[2 + 2 * i] = hex[Int(byte >> 4)]
                    out[3 + 2 * i] = hex[Int(byte & 0xF)]
                }
            }
            return 2 + count * 2
        }
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    public init(postgresText: String) throws(PostgresError) {
        guard postgresText.hasPrefix("\\x") else { throw PostgresError(.decoding, "not bytea hex") }
        let hex = Array(postgresText.utf8.dropFirst(2))
        guard hex.count % 2 == 0 else { throw PostgresError(.decoding, "not bytea hex") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var i = 0
        while i < hex.count {
            guard let hi = Self.nibble(hex[i]), let lo = Self.nibble(hex[i + 1]) else {
                throw PostgresError(.decoding, "not bytea hex")
            }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        self = bytes as! [Element]
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

/// A `text[]` parameter or column.
public struct PostgresTextArray: PostgresEncodable, PostgresDecodable, Hashable {
    public var values: [String]

    public init(_ values: [String]) { self.values = values }

    /// `{"a","b"}`: every element quoted, backslashes and quotes escaped.
    public var postgresText: String? {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (i, value) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    public init(postgresText: String) throws(PostgresError) {
        guard postgresText.hasPrefix("{"), postgresText.hasSuffix("}") else { throw PostgresError(.decoding, "not an array") }
        var values: [String] = []
        var current = ""
        var inQuotes = false
        var escaped = false
        var sawAny = false
        for ch in postgresText.dropFirst().dropLast() {
            sawAny = true
            if escaped { current.append(ch); escaped = false; continue }
            switch ch {
            case "\\" where inQuotes: escaped = true
            case "\"": inQuotes.toggle()
            case "," where !inQuotes: values.append(current); current = ""
            default: current.append(ch)
            }
        }
        if sawAny { values.append(current) }
        self.values = values
    }
}
