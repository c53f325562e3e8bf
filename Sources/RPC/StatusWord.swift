/// Maps gRPC status codes onto protobuf-c-rpc's 32-bit status word and back.
///
/// protobuf-c-rpc knows 0 SUCCESS, 1 SERVICE_FAILED and 2 TOO_MANY_PENDING, and stock clients treat
/// any non-zero word as a failure without detail. We send `0x100 + code` for a failure so that the
/// word alone carries the gRPC code, and read the reference's own words as UNKNOWN and
/// RESOURCE_EXHAUSTED. See `PROTOCOL.md`.
public enum StatusWord {
    /// protobuf-c-rpc's SUCCESS.
    public static let success: UInt32 = 0
    /// protobuf-c-rpc's SERVICE_FAILED.
    public static let serviceFailed: UInt32 = 1
    /// protobuf-c-rpc's TOO_MANY_PENDING.
    public static let tooManyPending: UInt32 = 2
    /// Failure words are this base plus the gRPC code.
    public static let codeBase: UInt32 = 0x100

    /// The status word a Nexa server sends for `code`.
    public static func word(for code: StatusCode) -> UInt32 {
        code == .ok ? success : codeBase + UInt32(code.rawValue)
    }

    /// The gRPC code a Nexa client reads from a status word sent by any protobuf-c-rpc server.
    public static func code(for word: UInt32) -> StatusCode {
        switch word {
        case success: .ok
        case serviceFailed: .unknown
        case tooManyPending: .resourceExhausted
        case (codeBase + 1)...(codeBase + 16): StatusCode(rawValue: Int(word - codeBase))
        default: .unknown
        }
    }
}
