#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif
internal import CMessages
internal import CProtobufC

/// Owns every C allocation made while building one protoc-c struct tree for packing, and frees
/// them all at once. Used by one encode call on one thread, never shared.
final class Arena {
    private var blocks: [UnsafeMutableRawPointer] = []

    init() {}

    deinit {
        for block in blocks { free(block) }
    }

    func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = malloc(max(1, MemoryLayout<T>.stride * count))!
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }

    /// A NUL-terminated copy. A string with an embedded NUL is cut there, as C strings are.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let p = allocate(CChar.self, count: utf8.count + 1)
            utf8.withMemoryRebound(to: CChar.self) { source in
                p.update(from: source.baseAddress!, count: source.count)
            }
            p[utf8.count] = 0
            return p
        }
    }

    func binaryData(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let p = allocate(UInt8.self, count: bytes.count)
        bytes.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: $0.count) }
        return ProtobufCBinaryData(len: bytes.count, data: p)
    }

    func message<M: CMessageConvertible>(_ message: M) -> UnsafeMutablePointer<M.CStruct> {
        let c = allocate(M.CStruct.self)
        M.cInit(c)
        message.fill(c, arena: self)
        return c
    }

    func array<Element, C>(_ elements: [Element], _ convert: (Element) -> C) -> UnsafeMutablePointer<C> {
        let p = allocate(C.self, count: elements.count)
        for (i, e) in elements.enumerated() { (p + i).initialize(to: convert(e)) }
        return p
    }
}
