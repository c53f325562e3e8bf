import Cryptography
import Foundation
import HTTPTypes

/// Checks AWS Signature V4 the way S3 does: from the request as received (method, path as sent,
/// query, the signed headers, the payload hash), in the `Authorization` header or in a presigned
/// URL's query. Written apart from the client's signer, so a mistake in one is not hidden by the
/// same mistake in the other.
struct S3Signature {
    let accessKeyID: String
    let secretAccessKey: String
    let region: String
    /// S3 refuses a header-signed request more than 15 minutes from its clock.
    var allowedSkew: TimeInterval = 15 * 60

    struct Received {
        var method: String
        /// The path exactly as sent (still percent-encoded).
        var rawPath: String
        /// Decoded query pairs, in order.
        var query: [(String, String)]
        /// Lower-cased names; `host` included.
        var headers: [String: String]
        var body: [UInt8]
    }

    /// nil when the request is authentic; else the error S3 would send.
    func verify(_ request: Received, now: Date) -> S3Error? {
        if let authorization = request.headers["authorization"] {
            return verifyHeader(authorization, request, now: now)
        }
        if request.query.contains(where: { $0.0 == "X-Amz-Signature" }) {
            return verifyPresigned(request, now: now)
        }
        return S3Error(.forbidden, "AccessDenied", "Access Denied")
    }

    private func verifyHeader(_ authorization: String, _ request: Received, now: Date) -> S3Error? {
        guard authorization.hasPrefix("AWS4-HMAC-SHA256 ") else {
            return S3Error(.badRequest, "InvalidArgument", "Unsupported Authorization Type")
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"],
              let date = request.headers["x-amz-date"], let payloadHash = request.headers["x-amz-content-sha256"] else {
            return S3Error(.badRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed.")
        }
        if let failure = check(credential: credential, date: date) { return failure }
        guard let signedAt = Self.parse(date), abs(signedAt.timeIntervalSince(now)) <= allowedSkew else {
            return S3Error(.forbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
        }
        if payloadHash != "UNSIGNED-PAYLOAD", payloadHash != Digest.hex(Digest.sha256(request.body)) {
            return S3Error(.badRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
        }
        let names = signedHeaders.split(separator: ";").map(String.init)
        guard names.contains("host") else { return S3Error(.badRequest, "AuthorizationHeaderMalformed", "host must be signed") }
        let canonicalHeaders = names.map { "\($0):\(Self.collapsed(request.headers[$0] ?? ""))\n" }.joined()
        let canonical = [request.method, request.rawPath, Self.canonicalQuery(request.query), canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        return matches(signature, canonical: canonical, date: date)
    }

    private func verifyPresigned(_ request: Received, now: Date) -> S3Error? {
        let q = Dictionary(request.query, uniquingKeysWith: { first, _ in first })
        guard q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256", let credential = q["X-Amz-Credential"], let date = q["X-Amz-Date"],
              let expires = q["X-Amz-Expires"].flatMap(Int.init), let signedHeaders = q["X-Amz-SignedHeaders"], let signature = q["X-Amz-Signature"]
        else {
            return S3Error(.badRequest, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
        }
        if let failure = check(credential: credential, date: date) { return failure }
        guard (1...604_800).contains(expires) else {
            return S3Error(.badRequest, "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds")
        }
        guard let signedAt = Self.parse(date), now <= signedAt.addingTimeInterval(TimeInterval(expires)) else {
            return S3Error(.forbidden, "AccessDenied", "Request has expired")
        }
        let names = signedHeaders.split(separator: ";").map(String.init)
        let canonicalHeaders = names.map { "\($0):\(Self.collapsed(request.headers[$0] ?? ""))\n" }.joined()
        let canonical = [request.method, request.rawPath, Self.canonicalQuery(request.query.filter { $0.0 != "X-Amz-Signature" }),
                         canonicalHeaders, signedHeaders, "UNSIGNED-PAYLOAD"].joined(separator: "\n")
        return matches(signature, canonical: canonical, date: date)
    }

    private func check(credential: String, date: String) -> S3Error? {
        let parts = credential.split(separator: "/").map(String.init)
        guard parts.count == 5, parts[4] == "aws4_request", parts[3] == "s3" else {
            return S3Error(.badRequest, "AuthorizationHeaderMalformed", "The credential is malformed.")
        }
        guard parts[0] == accessKeyID else {
            return S3Error(.forbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        }
        guard parts[2] == region else {
            return S3Error(.badRequest, "AuthorizationHeaderMalformed", "the region '\(parts[2])' is wrong; expecting '\(region)'")
        }
        guard date.hasPrefix(parts[1]) else {
            return S3Error(.badRequest, "AuthorizationHeaderMalformed", "The credential date does not match the request date.")
        }
        return nil
    }

    private func matches(_ signature: String, canonical: String, date: String) -> S3Error? {
        let day = String(date.prefix(8))
        let scope = "\(day)/\(region)/s3/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(date)\n\(scope)\n\(Digest.hex(Digest.sha256(Array(canonical.utf8))))"
        var key = Digest.hmacSHA256(key: Array(("AWS4" + secretAccessKey).utf8), data: Array(day.utf8))
        key = Digest.hmacSHA256(key: key, data: Array(region.utf8))
        key = Digest.hmacSHA256(key: key, data: Array("s3".utf8))
        key = Digest.hmacSHA256(key: key, data: Array("aws4_request".utf8))
        let expected = Digest.hex(Digest.hmacSHA256(key: key, data: Array(stringToSign.utf8)))
        guard Digest.constantTimeEquals(Array(expected.utf8), Array(signature.utf8)) else {
            return S3Error(.forbidden, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
        }
        return nil
    }

    /// `name=value` pairs, each part percent-encoded (RFC 3986 unreserved kept), sorted.
    static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        func encoded(_ text: String) -> String {
            text.utf8.map { byte -> String in
                let c = Character(UnicodeScalar(byte))
                return (c.isASCII && (c.isLetter || c.isNumber) || "-._~".contains(c)) ? String(c) : String(format: "%%%02X", byte)
            }.joined()
        }
        return pairs.map { (encoded($0.0), encoded($0.1)) }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    static func collapsed(_ value: String) -> String {
        value.split(separator: " ").joined(separator: " ")
    }

    static func parse(_ stamp: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.date(from: stamp)
    }
}
