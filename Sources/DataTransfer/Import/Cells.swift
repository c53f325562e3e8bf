import CSV
import Foundation

/// Reading and checking one cell: white space trimmed, a spreadsheet's formula guard removed,
/// emails, phone numbers and domains checked and normalised.
enum Cells {
    /// `text` without leading and trailing white space. ASCII white space is cut here; a cell
    /// that begins or ends with any non-ASCII byte (which may be a Unicode space) takes Foundation's path.
    static func trimmed(_ text: String) -> String {
        let bytes = text.utf8
        guard let first = bytes.first, let last = bytes.last else { return text }
        func space(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        if first >= 0x80 || last >= 0x80 { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard space(first) || space(last) else { return text }
        guard let start = bytes.firstIndex(where: { !space($0) }) else { return "" }
        let end = bytes.lastIndex(where: { !space($0) })!
        let inner = String(text[start...end])
        return inner.utf8.first! >= 0x80 || inner.utf8.last! >= 0x80 ? inner.trimmingCharacters(in: .whitespacesAndNewlines) : inner
    }

    /// `local@domain.tld`: one @, no spaces, a dot in the domain, sane lengths (in octets, as RFC 5321 counts).
    static func isEmail(_ text: String) -> Bool {
        let bytes = text.utf8
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at]
        let domain = bytes[bytes.index(after: at)...]
        guard !local.isEmpty, local.count <= 64, !domain.contains(UInt8(ascii: "@")) else { return false }
        for byte in bytes {
            switch byte {
            case 0...0x20, 0x7F, UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "<"), UInt8(ascii: ">"): return false
            default: continue
            }
        }
        if bytes.contains(where: { $0 >= 0x80 }), text.unicodeScalars.contains(where: \.properties.isWhitespace) { return false }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && $0.first != UInt8(ascii: "-") && $0.last != UInt8(ascii: "-") }
            && (labels.last?.count ?? 0) >= 2
    }

    /// E.164 (`+<country><number>`, 8–15 digits) from common spellings: `+44 20 7946 0958`,
    /// `0044 …`, `(415) 555-2671` (ten digits without a country read as North American, +1).
    static func e164(_ text: String) -> String? {
        var digits: [UInt8] = []
        var firstSymbol: UInt8?
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte)
            case UInt8(ascii: "+"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"): break
            case UInt8(ascii: " "): continue
            default: return nil
            }
            if firstSymbol == nil { firstSymbol = byte }
        }
        let zero = UInt8(ascii: "0")
        let international = firstSymbol == UInt8(ascii: "+") || digits.starts(with: [zero, zero])
        if digits.starts(with: [zero, zero]) { digits.removeFirst(2) }
        if !international {
            if digits.count == 10 { digits.insert(UInt8(ascii: "1"), at: 0) } else if digits.count == 11, digits.first == UInt8(ascii: "1") {} else { return nil }
        }
        guard (8...15).contains(digits.count), digits.first != zero else { return nil }
        return "+" + String(decoding: digits, as: UTF8.self)
    }

    /// A web domain from what people type: `https://www.Acme.com/about` → `acme.com`; nil when it
    /// is not a host name with a dot.
    static func domain(_ text: String) -> String? {
        var host = text.lowercased()
        if let scheme = host.range(of: "://") { host = String(host[scheme.upperBound...]) }
        host = String(host.prefix { $0 != "/" && $0 != "?" && $0 != "#" && $0 != ":" })
        if host.hasPrefix("www.") { host.removeFirst(4) }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, host.utf8.count <= 253,
              labels.allSatisfy({ label in
                  !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                      && label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
              }) else { return nil }
        return host
    }
}

extension ImportMapping {
    /// The cell mapped to `field`, trimmed and without a formula guard; nil when empty or unmapped.
    func cell(_ field: String, of fields: [String]) -> String? {
        guard let index = fieldColumns[field], index < fields.count else { return nil }
        let value = CSVWriter.removingFormulaGuard(Cells.trimmed(fields[index]))
        return value.isEmpty ? nil : value
    }
}
