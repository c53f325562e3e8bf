internal import COpenSSL

/// An RSA private key for RS256 signatures (JWTs the provider stand-ins issue). Owns its EVP_PKEY.
public final class RSAPrivateKey: @unchecked Sendable {
    // @unchecked: the EVP_PKEY is never mutated after generation; OpenSSL 3 allows concurrent
    // signing with one key (each signature uses its own EVP_MD_CTX).
    private let key: OpaquePointer

    /// Generates a fresh key.
    public init(bits: Int = 2048) throws(CryptoError) {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else { throw CryptoError("cannot create an RSA key context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(ctx) == 1, nexa_rsa_keygen_bits(ctx, Int32(bits)) == 1, EVP_PKEY_keygen(ctx, &key) == 1,
              let key else {
            throw CryptoError("RSA key generation failed")
        }
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`).
    public func signRS256(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError("cannot create a digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { throw CryptoError("signing failed") }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, message, message.count) == 1 else { throw CryptoError("signing failed") }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1 else { throw CryptoError("signing failed") }
        return Array(signature[..<length])
    }

    /// The public modulus and exponent, big-endian (a JWK's `n` and `e` before base64url).
    public var publicComponents: (modulus: [UInt8], exponent: [UInt8]) {
        (bigNumber(OSSL_PKEY_PARAM_RSA_N), bigNumber(OSSL_PKEY_PARAM_RSA_E))
    }

    private func bigNumber(_ name: String) -> [UInt8] {
        var bn: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(key, name, &bn) == 1, let bn else { return [] }
        defer { BN_free(bn) }
        var bytes = [UInt8](repeating: 0, count: Int((BN_num_bits(bn) + 7) / 8))
        _ = BN_bn2bin(bn, &bytes)
        return bytes
    }

    /// Verifies an RS256 signature with this key's public half (for tests of what it signs).
    public func verifyRS256(_ signature: [UInt8], message: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { return false }
        return EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1
    }
}
