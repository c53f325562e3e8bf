internal import COpenSSL

/// A private key for SHA-256 signatures: RSA PKCS#1 v1.5 (JWS `RS256`, PayPal's `SHA256withRSA`)
/// or ECDSA (SendGrid's event webhook). The provider stand-ins and tests sign with it. Owns its EVP_PKEY.
public final class PrivateKey: @unchecked Sendable {
    // @unchecked: the EVP_PKEY is never mutated after creation; OpenSSL 3 allows concurrent
    // signing with one key (each signature uses its own EVP_MD_CTX).
    private let key: OpaquePointer

    /// Generates a fresh RSA key.
    public init(rsaBits bits: Int = 2048) throws(CryptoError) {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else { throw CryptoError("cannot create an RSA key context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(ctx) == 1, nexa_rsa_keygen_bits(ctx, Int32(bits)) == 1, EVP_PKEY_keygen(ctx, &key) == 1,
              let key else {
            throw CryptoError("RSA key generation failed")
        }
        self.key = key
    }

    /// Reads a PEM private key (`-----BEGIN PRIVATE KEY-----`, PKCS#8; RSA or EC).
    public init(pem: [UInt8]) throws(CryptoError) {
        let parsed: OpaquePointer? = pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let parsed else { throw CryptoError("not a PEM private key") }
        key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// A SHA-256 signature of `message`: PKCS#1 v1.5 for RSA keys, DER `SEQUENCE {r, s}` for EC keys.
    public func signSHA256(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError("cannot create a digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { throw CryptoError("signing failed") }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, message, message.count) == 1 else { throw CryptoError("signing failed") }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1 else { throw CryptoError("signing failed") }
        return Array(signature[..<length])
    }

    /// The RSA public modulus and exponent, big-endian (a JWK's `n` and `e` before base64url); empty for EC keys.
    public var publicComponents: (modulus: [UInt8], exponent: [UInt8]) {
        (bigNumber(OSSL_PKEY_PARAM_RSA_N), bigNumber(OSSL_PKEY_PARAM_RSA_E))
    }

    private func bigNumber(_ name: String) -> [UInt8] {
        var bn: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(key, name, &bn) == 1, let bn else { ERR_clear_error(); return [] }
        defer { BN_free(bn) }
        var bytes = [UInt8](repeating: 0, count: Int((BN_num_bits(bn) + 7) / 8))
        _ = BN_bn2bin(bn, &bytes)
        return bytes
    }
}
