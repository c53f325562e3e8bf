/// Email addresses as mail headers carry them (RFC 5322's address lists, read leniently):
/// display names, quoted names with commas, comments, groups, and any case.
public enum EmailAddresses {
    /// The addresses of a header value, normalised, in order of appearance, without repeats.
    ///
    ///     EmailAddresses.parse(#""Demo, Ana" <ANA@Example.com>, team: b@x.org, c@x.org;"#)
    ///     // ["ana@example.com", "b@x.org", "c@x.org"]
    public static func parse(_ header: String) -> [String] {
        var found: [String] = []
        var seen: Set<String> = []
        for candidate in candidates(in: header) {
            if let address = normalize(candidate), seen.insert(address).inserted { found.append(address) }
        }
        return found
    }

    /// One address trimmed and lower-cased, or nil when it is not `local@domain` with a dotted domain.
    public static func normalize(_ raw: some StringProtocol) -> String? {
        // ASCII addresses (nearly all) are checked and lower-cased byte by byte: a sync normalises
        // thousands at a time. Anything else takes the general path.
        var bytes = Array(raw.utf8)
        while let last = bytes.last, last == 0x20 || (0x09...0x0D).contains(last) { bytes.removeLast() }
        let start = bytes.firstIndex { !($0 == 0x20 || (0x09...0x0D).contains($0)) } ?? bytes.endIndex
        guard bytes[start...].allSatisfy({ $0 < 0x80 }) else { return normalizeUnicode(raw) }
        var address: [UInt8] = []
        address.reserveCapacity(bytes.count - start)
        var at: Int? = nil
        for byte in bytes[start...] {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): address.append(byte + 32)
            case UInt8(ascii: " "), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\""), 0x00...0x1F, 0x7F:
                return nil
            case UInt8(ascii: "@"): at = address.count; address.append(byte)
            default: address.append(byte)
            }
        }
        guard let at, at > 0 else { return nil }
        let domain = address[(at + 1)...]
        guard domain.contains(UInt8(ascii: ".")), domain.first != UInt8(ascii: "."), domain.last != UInt8(ascii: ".") else { return nil }
        return String(decoding: address, as: UTF8.self)
    }

    private static func normalizeUnicode(_ raw: some StringProtocol) -> String? {
        let address = raw.trimmingWhitespace().lowercased()
        guard let at = address.lastIndex(of: "@"), at != address.startIndex else { return nil }
        let domain = address[address.index(after: at)...]
        guard domain.contains("."), !domain.hasPrefix("."), !domain.hasSuffix("."),
              !address.contains(where: { $0 == " " || $0 == "<" || $0 == ">" || $0 == "," || $0 == ";" || $0 == "\"" }),
              !address.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return nil }
        return address
    }

    /// The address-like parts of a header: the text in angle brackets where a mailbox has them,
    /// else the mailbox's bare text; quoted strings and comments are names, never addresses.
    static func candidates(in header: String) -> [Substring] {
        var results: [Substring] = []
        var words: [String] = [""]  // the current mailbox's words outside quotes, comments and brackets
        var bracketed: Substring? = nil
        var index = header.startIndex
        func finishMailbox() {
            if let bracketed {
                results.append(bracketed)
            } else if let word = words.last(where: { $0.contains("@") }) {
                results.append(Substring(word))
            }
            words = [""]
            bracketed = nil
        }
        while index < header.endIndex {
            let character = header[index]
            switch character {
            case "\"":  // a quoted display name: skip to its closing quote, honouring backslashes
                index = header.index(after: index)
                while index < header.endIndex, header[index] != "\"" {
                    if header[index] == "\\" { index = header.index(after: index); if index == header.endIndex { break } }
                    index = header.index(after: index)
                }
                words.append("")
            case "(":  // a comment, which may nest
                var depth = 1
                index = header.index(after: index)
                while index < header.endIndex, depth > 0 {
                    if header[index] == "(" { depth += 1 } else if header[index] == ")" { depth -= 1 }
                    if depth > 0 { index = header.index(after: index) }
                }
            case "<":
                let start = header.index(after: index)
                let end = header[start...].firstIndex(of: ">") ?? header.endIndex
                bracketed = header[start..<end]
                index = end
            case ":":  // a group's name ends; its members follow
                words = [""]
            case ",", ";":
                finishMailbox()
            case " ", "\t", "\r", "\n":
                words.append("")
            default:
                words[words.count - 1].append(character)
            }
            if index < header.endIndex { index = header.index(after: index) }
        }
        finishMailbox()
        return results
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> SubSequence {
        var slice = self[...]
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return slice
    }
}
