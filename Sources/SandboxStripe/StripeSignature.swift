import Cryptography

/// Stripe's webhook signature: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, one `v1`
/// per active secret (several while a secret is being rolled).
public enum StripeSignature {
    public static func header(body: [UInt8], timestamp: Int64, secrets: [String]) -> String {
        let signedPayload = Array("\(timestamp).".utf8) + body
        let signatures = secrets.map { "v1=" + Digest.hex(Digest.hmacSHA256(key: Array($0.utf8), data: signedPayload)) }
        return (["t=\(timestamp)"] + signatures).joined(separator: ",")
    }
}
