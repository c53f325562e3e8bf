public import CurlHTTP
import Cryptography
public import Foundation

/// AWS Signature Version 4 for S3 and S3-compatible stores: requests signed in the
/// `Authorization` header, and presigned URLs (query-string authentication).
public struct SigV4: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var region: String
    public var service: String

    public init(accessKeyID: String, secretAccessKey: String, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// The hash S3 takes in place of a payload's SHA-256 when the payload is not signed.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// Adds `Host`-bound `x-amz-date`, `x-amz-content-sha256` and `Authorization` to `request`,
    /// signing every header it carries. `payloadHash` defaults to the SHA-256 of the body.
    public func sign(_ request: inout HTTPClientRequest, at date: Date, payloadHash: String? = nil) throws(SigV4Error) {
        let url = try URLParts(request.url)
        let hash = payloadHash ?? Digest.hex(Digest.sha256(request.body ?? []))
        let stamp = Self.timestamp(date)
        request.headers.removeAll { ["authorization", "x-amz-date", "x-amz-content-sha256"].contains($0.name.lowercased()) }
        request.headers += [.init("x-amz-date", stamp), .init("x-amz-content-sha256", hash)]
        var headers = request.headers.map { (name: $0.name.lowercased(), value: Self.trimmed($0.value)) }
        headers.append((name: "host", value: url.host))
        let canonicalHeaders = Dictionary(headers.map { ($0.name, $0.value) }, uniquingKeysWith: { "\($0),\($1)" })
        let signed = canonicalHeaders.keys.sorted()
        let canonical = [
            request.method.uppercased(), url.path, Self.canonicalQuery(url.query),
            signed.map { "\($0):\(canonicalHeaders[$0]!)\n" }.joined(), signed.joined(separator: ";"), hash,
        ].joined(separator: "\n")
        let signature = self.signature(canonicalRequest: canonical, timestamp: stamp)
        request.headers.append(.init("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope(stamp)), "
            + "SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)"))
    }

    /// A URL anyone may use for `method` on `url` until `expires` has passed (at most 7 days).
    public func presignedURL(method: String = "GET", url: String, at date: Date, expires: Duration) throws(SigV4Error) -> String {
        let parts = try URLParts(url)
        let seconds = Int(expires.components.seconds)
        guard (1...604_800).contains(seconds) else { throw SigV4Error("a presigned URL lasts between 1 second and 7 days") }
        let stamp = Self.timestamp(date)
        let query = parts.query + [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "\(accessKeyID)/\(scope(stamp))"), ("X-Amz-Date", stamp),
            ("X-Amz-Expires", String(seconds)), ("X-Amz-SignedHeaders", "host"),
        ]
        let canonical = [method.uppercased(), parts.path, Self.canonicalQuery(query), "host:\(parts.host)\n", "host", Self.unsignedPayload]
            .joined(separator: "\n")
        return parts.base + parts.path + "?" + Self.canonicalQuery(query) + "&X-Amz-Signature=" + signature(canonicalRequest: canonical, timestamp: stamp)
    }

    func scope(_ timestamp: String) -> String { "\(timestamp.prefix(8))/\(region)/\(service)/aws4_request" }

    func signature(canonicalRequest: String, timestamp: String) -> String {
        let toSign = ["AWS4-HMAC-SHA256", timestamp, scope(timestamp), Digest.hex(Digest.sha256(Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        var key = Digest.hmacSHA256(key: Array("AWS4\(secretAccessKey)".utf8), data: Array(timestamp.prefix(8).utf8))
        for part in [region, service, "aws4_request"] { key = Digest.hmacSHA256(key: key, data: Array(part.utf8)) }
        return Digest.hex(Digest.hmacSHA256(key: key, data: Array(toSign.utf8)))
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func timestamp(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (and `/` when asked).
    public static func encode(_ text: String, keepingSlash: Bool = false) -> String {
        guard keepingSlash else { return HTTPClientRequest.formEncode(text) }
        return text.split(separator: "/", omittingEmptySubsequences: false).map { HTTPClientRequest.formEncode(String($0)) }.joined(separator: "/")
    }

    /// Pairs sorted by encoded name, then value; each side encoded once.
    static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = pairs.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// Header values with outer spaces removed and inner runs of spaces collapsed.
    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// The pieces of a URL that signing needs, as they go on the wire.
    struct URLParts {
        /// `scheme://host[:port]`.
        var base: String
        /// The `Host` header libcurl sends: the port only when it is not the scheme's default.
        var host: String
        /// Already percent-encoded, as in the URL.
        var path: String
        /// Decoded name/value pairs.
        var query: [(String, String)]

        init(_ url: String) throws(SigV4Error) {
            guard let components = URLComponents(string: url), let scheme = components.scheme, let hostname = components.host else {
                throw SigV4Error("not a URL: \(url)")
            }
            let defaultPort = scheme == "https" ? 443 : 80
            host = components.port.map { $0 == defaultPort ? hostname : "\(hostname):\($0)" } ?? hostname
            base = "\(scheme)://\(host)"
            path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
            query = (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }
        }
    }
}

/// A URL that cannot be signed, or a presigned URL's lifetime out of range.
public struct SigV4Error: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
