/// The shape of every message, enum and service compiled from `Protos/`, read from the protobuf-c
/// descriptors that `protoc-c` generated. Used by the Swift code generator and by tests.
public struct Schema: Sendable {
    public var messages: [Message]
    public var enums: [Enum]
    public var services: [Service]

    /// A message type.
    public struct Message: Sendable, Hashable {
        /// Fully qualified proto name, e.g. `nexa.rpc.v1.RequestContext`.
        public var fullName: String
        /// Proto package, e.g. `nexa.rpc.v1`.
        public var package: String
        /// The C struct, e.g. `Nexa__Rpc__V1__RequestContext`.
        public var cName: String
        /// The C symbol of its descriptor, e.g. `nexa__rpc__v1__request_context__descriptor`.
        public var descriptorSymbol: String
        public var fields: [Field]
        /// Number of `oneof`s (the generator does not support them yet).
        public var oneofCount: Int
    }

    /// A field of a message.
    public struct Field: Sendable, Hashable {
        public enum Label: Sendable, Hashable { case required, optional, repeated, none }
        public enum Kind: Sendable, Hashable {
            case int32, sint32, sfixed32, int64, sint64, sfixed64
            case uint32, fixed32, uint64, fixed64
            case float, double, bool, string, bytes
            /// Fully qualified enum name.
            case enumeration(String)
            /// Fully qualified message name.
            case message(String)
        }
        /// Proto field name; protoc-c uses it unchanged as the C member name.
        public var name: String
        public var number: UInt32
        public var label: Label
        public var kind: Kind
        public var isOneofMember: Bool
    }

    /// An enum type.
    public struct Enum: Sendable, Hashable {
        public var fullName: String
        public var package: String
        public var cName: String
        public var values: [(name: String, number: Int32)]

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.fullName == rhs.fullName && lhs.values.map(\.name) == rhs.values.map(\.name)
                && lhs.values.map(\.number) == rhs.values.map(\.number)
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(fullName) }
    }

    /// A service with its methods in declaration order (the wire's method index).
    public struct Service: Sendable, Hashable {
        /// Fully qualified, e.g. `nexa.billing.v1.BillingService`.
        public var fullName: String
        public var package: String
        public var shortName: String
        public var methods: [Method]
    }

    /// A unary method.
    public struct Method: Sendable, Hashable {
        public var name: String
        public var inputType: String
        public var outputType: String
    }
}
