import Foundation

/// An outbound HTTP request: a value, safe to keep and to retry.
public struct HTTPClientRequest: Sendable, Hashable {
    public var method: String
    public var url: String
    /// In order; names as given.
    public var headers: [Header]
    public var body: [UInt8]?
    /// A file sent as the body instead of `body`, read as it goes out (never held in memory).
    public var bodyFile: String?

    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String = "GET", url: String, headers: [Header] = [], body: [UInt8]? = nil, bodyFile: String? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.bodyFile = bodyFile
    }

    /// A POST with an `application/x-www-form-urlencoded` body (pairs in order, percent-encoded).
    public static func form(_ url: String, _ pairs: [(String, String)], headers: [Header] = [], method: String = "POST") -> HTTPClientRequest {
        let body = pairs.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
        return HTTPClientRequest(method: method, url: url, headers: headers + [Header("Content-Type", "application/x-www-form-urlencoded")],
                                 body: Array(body.utf8))
    }

    /// A request with a JSON body.
    public static func json(_ url: String, _ body: [UInt8], headers: [Header] = [], method: String = "POST") -> HTTPClientRequest {
        HTTPClientRequest(method: method, url: url, headers: headers + [Header("Content-Type", "application/json")], body: body)
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX (so brackets become %5B/%5D).
    public static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

/// A received response.
public struct HTTPClientResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [HTTPClientRequest.Header]
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPClientRequest.Header], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why a transfer failed. `message` is safe to log: it never contains the URL's query or the body.
public struct HTTPClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let invalidURL = Code(name: "invalid_url")
        public static let couldNotConnect = Code(name: "could_not_connect")
        public static let timedOut = Code(name: "timed_out")
        public static let tls = Code(name: "tls")
        public static let responseTooLarge = Code(name: "response_too_large")
        public static let cancelled = Code(name: "cancelled")
        /// Every retry of a retryable failure failed too (see `RetryPolicy`).
        public static let retriesExhausted = Code(name: "retries_exhausted")
        public static let transport = Code(name: "transport")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// For `retriesExhausted`: the HTTP status of the last attempt, when it got one.
    public var lastStatus: Int?

    public init(_ code: Code, _ message: String, lastStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.lastStatus = lastStatus
    }

    public var description: String { "\(code): \(message)" }
}
