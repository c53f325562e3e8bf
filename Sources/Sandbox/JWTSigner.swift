import Cryptography

/// A stand-in's token signing key: signs RS256 JWTs (ID tokens, Pub/Sub push tokens) and
/// publishes its public half as a JWK.
public struct JWTSigner: Sendable {
    let key: PrivateKey
    public let keyID: String

    public init() throws {
        key = try PrivateKey(rsaBits: 2048)
        keyID = Digest.hex(Digest.sha256(key.publicComponents.modulus).prefix(20))
    }

    /// `header.claims.signature`, base64url, with this key's `kid`.
    public func sign(_ claims: JSON) throws -> String {
        let header: JSON = ["alg": "RS256", "kid": .string(keyID), "typ": "JWT"]
        let input = Digest.base64URL(header.encoded()) + "." + Digest.base64URL(claims.encoded())
        return input + "." + Digest.base64URL(try key.signSHA256(Array(input.utf8)))
    }

    /// The JWK that verifies what `sign` signs.
    public var jwk: JSON {
        let (n, e) = key.publicComponents
        return ["kty": "RSA", "alg": "RS256", "use": "sig", "kid": .string(keyID),
                "n": .string(Digest.base64URL(n)), "e": .string(Digest.base64URL(e))]
    }
}
