/// An `application/x-www-form-urlencoded` body with Stripe's bracket notation
/// (`items[0][price]=p`, `metadata[k]=v`, `expand[]=x`), decoded into a tree.
public struct FormBody: Sendable, Hashable {
    /// The decoded pairs in order, keys and values percent-decoded.
    public let pairs: [(key: String, value: String)]
    /// The pairs as a tree: objects for brackets, numeric keys kept as strings (see `list`).
    public let tree: [String: FormValue]

    public static func == (lhs: FormBody, rhs: FormBody) -> Bool { lhs.tree == rhs.tree }
    public func hash(into hasher: inout Hasher) { hasher.combine(tree) }

    /// - Throws: `FormError` for a malformed key (unbalanced brackets) or bad percent-encoding.
    public init(_ body: String) throws(FormError) {
        var pairs: [(String, String)] = []
        var tree: [String: FormValue] = [:]
        for item in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try Self.percentDecode(parts[0])
            let value = parts.count > 1 ? try Self.percentDecode(parts[1]) : ""
            pairs.append((key, value))
            let path = try Self.path(of: key)
            FormValue.insert(value, at: path[...], into: &tree)
        }
        self.pairs = pairs
        self.tree = tree
    }

    public subscript(key: String) -> FormValue? { tree[key] }

    /// `items[0][price]` → `["items", "0", "price"]`; `expand[]` → `["expand", ""]`.
    static func path(of key: String) throws(FormError) -> [String] {
        guard let open = key.firstIndex(of: "[") else { return [key] }
        var path = [String(key[..<open])]
        var rest = key[open...]
        while !rest.isEmpty {
            guard rest.first == "[", let close = rest.firstIndex(of: "]") else { throw FormError(key: key) }
            path.append(String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        guard !path[0].isEmpty else { throw FormError(key: key) }
        return path
    }

    static func percentDecode(_ text: Substring) throws(FormError) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let b = utf8.next() {
            switch b {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let h = utf8.next(), let l = utf8.next(), let hi = hex(h), let lo = hex(l) else {
                    throw FormError(key: String(text))
                }
                bytes.append(hi << 4 | lo)
            default: bytes.append(b)
            }
        }
        guard let s = String(validating: bytes, as: UTF8.self) else { throw FormError(key: String(text)) }
        return s
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

/// A node of a decoded form body.
public indirect enum FormValue: Sendable, Hashable {
    case string(String)
    case object([String: FormValue])

    public var string: String? { if case .string(let s) = self { s } else { nil } }

    /// Children of an object in index order: `items[0]`, `items[1]`… (and `expand[]` entries).
    public var list: [FormValue] {
        guard case .object(let o) = self else { return [] }
        return o.sorted { (Int($0.key.split(separator: "#").first ?? "") ?? 0) < (Int($1.key.split(separator: "#").first ?? "") ?? 0) }
            .map(\.value)
    }

    /// A flat string map (`metadata[k]=v`).
    public var stringMap: [String: String] {
        guard case .object(let o) = self else { return [:] }
        return o.compactMapValues(\.string)
    }

    public subscript(key: String) -> FormValue? {
        if case .object(let o) = self { o[key] } else { nil }
    }

    static func insert(_ value: String, at path: ArraySlice<String>, into tree: inout [String: FormValue]) {
        var key = path.first!
        if key.isEmpty { key = "\(tree.count)#append" }  // `x[]=` appends
        if path.count == 1 {
            tree[key] = .string(value)
            return
        }
        var child: [String: FormValue] = [:]
        if case .object(let existing) = tree[key] { child = existing }
        insert(value, at: path.dropFirst(), into: &child)
        tree[key] = .object(child)
    }
}

/// A form body that cannot be decoded.
public struct FormError: Error, Hashable, Sendable {
    public var key: String
}
