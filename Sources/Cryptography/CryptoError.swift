/// The one error type of the OpenSSL wrapper.
public struct CryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
