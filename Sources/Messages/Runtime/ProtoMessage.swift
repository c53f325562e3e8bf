/// A Swift value for a proto message, encoded and decoded by libprotobuf-c.
public protocol ProtoMessage: Sendable, Hashable, Codable {
    /// Fully qualified proto name, e.g. `nexa.rpc.v1.EchoRequest`.
    static var protoName: String { get }
    init()
    /// Decodes the protobuf wire format.
    /// - Throws: `MessageError` when the bytes are not a valid encoding of this message.
    init(serializedBytes bytes: [UInt8]) throws(MessageError)
    /// Encodes to the protobuf wire format.
    func serializedBytes() -> [UInt8]
}

/// A proto enum: an open set of `Int32` values with known names.
public protocol ProtoEnum: RawRepresentable<Int32>, Sendable, Hashable, Codable {
    static var protoNames: [Int32: String] { get }
    init(rawValue: Int32)
}

extension ProtoEnum {
    /// Proto3 JSON: the value's name when known, else its number.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let name = Self.protoNames[rawValue] { try c.encode(name) } else { try c.encode(rawValue) }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Int32.self) {
            self.init(rawValue: number)
        } else {
            let name = try c.decode(String.self)
            guard let number = Self.protoNames.first(where: { $0.value == name })?.key else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown enum value \(name)")
            }
            self.init(rawValue: number)
        }
    }
}

/// A request message that carries `nexa.rpc.v1.RequestContext` as field 1.
public protocol ContextCarrying: ProtoMessage {
    var context: RPCV1.RequestContext? { get set }
}

/// Why bytes could not be decoded into a message.
public struct MessageError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
