public import Foundation

/// A declarative mapping between a provider's JSON payload and CRM fields, used in both
/// directions: `inbound` reads a payload into CRM fields, `outbound` builds a payload from them.
///
///     let mapping = DataMapping([
///         .init("customer_details.email", "email", .lowercased),
///         .init("amount_paid", "amount", .minorUnits(100)),
///         .init("status_transitions.paid_at", "paid_at", .unixSeconds),
///         .init("lines.data[0].price.id", "price_id"),
///     ])
///     let fields = try mapping.inbound(stripeInvoiceJSON)
public struct DataMapping: Sendable, Hashable {
    /// How a value changes on the way in (and back, where the change can be undone).
    public enum Transform: Sendable, Hashable {
        case none
        /// Inbound lower-cases; outbound leaves the value as it is.
        case lowercased
        case trimmed
        /// Integer minor units (cents) in the payload ↔ a decimal amount in the CRM.
        case minorUnits(Int)
        /// Unix seconds in the payload ↔ an ISO 8601 timestamp in the CRM.
        case unixSeconds
        /// A number or numeric string in the payload ↔ an integer in the CRM.
        case integer
        /// Payload values to CRM values (outbound uses the inverse).
        case lookup([String: String])
    }

    public struct Rule: Sendable, Hashable {
        /// Dotted path into the payload; `[n]` indexes arrays (`lines.data[0].price.id`).
        public var source: String
        /// The CRM field.
        public var field: String
        public var transform: Transform
        /// Inbound: a missing source is an error instead of an absent field.
        public var required: Bool

        public init(_ source: String, _ field: String, _ transform: Transform = .none, required: Bool = false) {
            self.source = source
            self.field = field
            self.transform = transform
            self.required = required
        }
    }

    public struct MappingError: Error, Hashable, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }

    public var rules: [Rule]

    public init(_ rules: [Rule]) { self.rules = rules }

    /// CRM fields read from a payload (a JSON object as `JSONSerialization` gives it, or its bytes).
    public func inbound(_ payload: Any) throws(MappingError) -> [String: Any] {
        var fields: [String: Any] = [:]
        for rule in rules {
            guard let raw = Self.value(at: rule.source, in: payload), !(raw is NSNull) else {
                if rule.required { throw MappingError(path: rule.source, reason: "is required") }
                continue
            }
            fields[rule.field] = try Self.apply(rule.transform, inbound: true, to: raw, path: rule.source)
        }
        return fields
    }

    public func inbound(json: [UInt8]) throws(MappingError) -> [String: Any] {
        guard let payload = try? JSONSerialization.jsonObject(with: Data(json)) else {
            throw MappingError(path: "$", reason: "is not JSON")
        }
        return try inbound(payload)
    }

    /// A payload built from CRM fields: each rule's value placed at its path (objects and arrays made as needed).
    public func outbound(_ fields: [String: Any]) throws(MappingError) -> [String: Any] {
        var payload: Any = [String: Any]()
        for rule in rules {
            guard let value = fields[rule.field], !(value is NSNull) else { continue }
            let converted = try Self.apply(rule.transform, inbound: false, to: value, path: rule.field)
            payload = try Self.setting(converted, at: Self.steps(rule.source), in: payload, path: rule.source)
        }
        return payload as? [String: Any] ?? [:]
    }

    // MARK: Paths

    enum Step: Hashable { case key(String), index(Int) }

    static func steps(_ path: String) -> [Step] {
        var steps: [Step] = []
        for part in path.split(separator: ".") {
            var name = Substring(part)
            var indexes: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "["), let n = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) {
                indexes.insert(n, at: 0)
                name = name[..<open]
            }
            if !name.isEmpty { steps.append(.key(String(name))) }
            steps += indexes.map(Step.index)
        }
        return steps
    }

    static func value(at path: String, in payload: Any) -> Any? {
        var current: Any? = payload
        for step in steps(path) {
            switch step {
            case .key(let key): current = (current as? [String: Any])?[key]
            case .index(let i):
                guard let array = current as? [Any], array.indices.contains(i) else { return nil }
                current = array[i]
            }
        }
        return current
    }

    static func setting(_ value: Any, at steps: [Step], in container: Any?, path: String) throws(MappingError) -> Any {
        guard let step = steps.first else { return value }
        let rest = Array(steps.dropFirst())
        switch step {
        case .key(let key):
            var object = container as? [String: Any] ?? [:]
            object[key] = try setting(value, at: rest, in: object[key], path: path)
            return object
        case .index(let i):
            guard i < 1000 else { throw MappingError(path: path, reason: "index \(i) is too large") }
            var array = container as? [Any] ?? []
            while array.count <= i { array.append([String: Any]()) }
            array[i] = try setting(value, at: rest, in: array[i], path: path)
            return array
        }
    }

    // MARK: Transforms

    static func apply(_ transform: Transform, inbound: Bool, to value: Any, path: String) throws(MappingError) -> Any {
        switch transform {
        case .none:
            return value
        case .lowercased:
            guard let text = value as? String else { throw MappingError(path: path, reason: "is not text") }
            return inbound ? text.lowercased() : text
        case .trimmed:
            guard let text = value as? String else { throw MappingError(path: path, reason: "is not text") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        case .minorUnits(let scale):
            if inbound {
                guard let minor = integer(value) else { throw MappingError(path: path, reason: "is not an integer amount") }
                return Decimal(minor) / Decimal(scale)
            }
            guard let amount = decimal(value) else { throw MappingError(path: path, reason: "is not an amount") }
            var scaled = amount * Decimal(scale), rounded = Decimal()
            NSDecimalRound(&rounded, &scaled, 0, .bankers)
            return NSDecimalNumber(decimal: rounded).intValue
        case .unixSeconds:
            if inbound {
                guard let seconds = integer(value) else { throw MappingError(path: path, reason: "is not a Unix time") }
                return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            }
            guard let text = value as? String, let date = ISO8601DateFormatter().date(from: text) else {
                throw MappingError(path: path, reason: "is not an ISO 8601 time")
            }
            return Int(date.timeIntervalSince1970)
        case .integer:
            guard let number = integer(value) else { throw MappingError(path: path, reason: "is not an integer") }
            return number
        case .lookup(let table):
            let key = "\(value)"
            if inbound {
                guard let mapped = table[key] else { throw MappingError(path: path, reason: "has no mapping for \"\(key)\"") }
                return mapped
            }
            guard let original = table.first(where: { $0.value == key })?.key else {
                throw MappingError(path: path, reason: "has no mapping back for \"\(key)\"")
            }
            return original
        }
    }

    private static func integer(_ value: Any) -> Int? {
        if let text = value as? String { return Int(text) }
        if type(of: value) == Bool.self { return nil }
        if let number = value as? NSNumber {
            // JSON true/false arrive as NSNumber of Objective-C type `c` (BOOL), not as numbers.
            guard String(cString: number.objCType) != "c" else { return nil }
            return number.doubleValue == number.doubleValue.rounded() ? number.intValue : nil
        }
        return value as? Int
    }

    private static func decimal(_ value: Any) -> Decimal? {
        if let decimal = value as? Decimal { return decimal }
        if let text = value as? String { return Decimal(string: text) }
        if let number = value as? NSNumber { return number.decimalValue }
        return nil
    }
}
