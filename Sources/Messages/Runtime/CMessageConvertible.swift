internal import CMessages
internal import CProtobufC

/// Conversion between a generated Swift message and its protoc-c struct. Generated code conforms;
/// nothing outside this module sees C types.
protocol CMessageConvertible: ProtoMessage {
    associatedtype CStruct
    static func cInit(_ c: UnsafeMutablePointer<CStruct>)
    static func cUnpack(_ count: Int, _ bytes: UnsafePointer<UInt8>?) -> UnsafeMutablePointer<CStruct>?
    static func cFree(_ c: UnsafeMutablePointer<CStruct>)
    static func cPackedSize(_ c: UnsafePointer<CStruct>) -> Int
    static func cPack(_ c: UnsafePointer<CStruct>, _ out: UnsafeMutablePointer<UInt8>?) -> Int
    init(c: UnsafePointer<CStruct>) throws(MessageError)
    /// Fills an initialised struct; every pointer it stores is owned by `arena`.
    func fill(_ c: UnsafeMutablePointer<CStruct>, arena: Arena)
}

extension CMessageConvertible {
    public init(serializedBytes bytes: [UInt8]) throws(MessageError) {
        let unpacked = bytes.withUnsafeBufferPointer { Self.cUnpack($0.count, $0.baseAddress) }
        guard let unpacked else {
            throw MessageError("not a valid \(Self.protoName) encoding")
        }
        defer { Self.cFree(unpacked) }
        try self.init(c: unpacked)
    }

    public func serializedBytes() -> [UInt8] {
        let arena = Arena()
        let c = arena.allocate(CStruct.self)
        Self.cInit(c)
        fill(c, arena: arena)
        let size = Self.cPackedSize(c)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = Self.cPack(c, buffer.baseAddress)
        }
    }
}

/// Reading C values into Swift.
enum CRuntime {
    /// Proto3 strings must be valid UTF-8; protobuf-c does not check, so we do.
    static func string(_ c: UnsafePointer<CChar>?) throws(MessageError) -> String {
        guard let c else { return "" }
        guard let s = String(validatingCString: c) else { throw MessageError("a string field is not valid UTF-8") }
        return s
    }

    static func bytes(_ c: ProtobufCBinaryData) -> [UInt8] {
        guard c.len > 0, let data = c.data else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: c.len))
    }
}
