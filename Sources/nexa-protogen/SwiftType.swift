import ProtoSchema

/// How one proto field is represented in Swift and converted to and from its C member.
struct FieldCode {
    let field: Schema.Field
    let property: String
    /// Swift type of a single element (the field's type when not repeated).
    let elementType: String
    let defaultValue: String
    let isRepeated: Bool
    let isMessage: Bool

    init(_ field: Schema.Field, resolve: (String) -> String) {
        self.field = field
        property = Naming.property(field.name)
        isRepeated = field.label == .repeated
        switch field.kind {
        case .int32, .sint32, .sfixed32: (elementType, defaultValue) = ("Int32", "0")
        case .int64, .sint64, .sfixed64: (elementType, defaultValue) = ("Int64", "0")
        case .uint32, .fixed32: (elementType, defaultValue) = ("UInt32", "0")
        case .uint64, .fixed64: (elementType, defaultValue) = ("UInt64", "0")
        case .float: (elementType, defaultValue) = ("Float", "0")
        case .double: (elementType, defaultValue) = ("Double", "0")
        case .bool: (elementType, defaultValue) = ("Bool", "false")
        case .string: (elementType, defaultValue) = ("String", "\"\"")
        case .bytes: (elementType, defaultValue) = ("[UInt8]", "[]")
        case .enumeration(let name): (elementType, defaultValue) = (resolve(name), "\(resolve(name))()")
        case .message(let name): (elementType, defaultValue) = (resolve(name), "nil")
        }
        if case .message = field.kind { isMessage = true } else { isMessage = false }
    }

    /// The declared Swift type.
    var swiftType: String {
        if isRepeated { return "[\(elementType)]" }
        return isMessage ? "\(elementType)?" : elementType
    }

    var declaredDefault: String { isRepeated ? "[]" : defaultValue }

    /// Expression reading one C element `c` into Swift (may throw).
    func read(_ c: String) -> String {
        switch field.kind {
        case .bool: "\(c) != 0"
        case .string: "try CRuntime.string(\(c))"
        case .bytes: "CRuntime.bytes(\(c))"
        case .enumeration: "\(elementType)(rawValue: Int32(truncatingIfNeeded: \(c).rawValue))"
        case .message: "try \(elementType)(c: \(c)!)"
        default: c
        }
    }

    /// Expression converting one Swift element `v` into its C representation.
    func write(_ v: String) -> String {
        switch field.kind {
        case .bool: "\(v) ? 1 : 0"
        case .string: "arena.cString(\(v))"
        case .bytes: "arena.binaryData(\(v))"
        case .enumeration: ".init(rawValue: .init(truncatingIfNeeded: \(v).rawValue))"
        case .message: "arena.message(\(v))"
        default: v
        }
    }
}
