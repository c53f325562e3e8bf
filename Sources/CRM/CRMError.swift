/// What the CRM refuses, in words safe to show (never SQL or another workspace's data).
public struct CRMError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case invalidArgument = "invalid_argument"
        case notFound = "not_found"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
