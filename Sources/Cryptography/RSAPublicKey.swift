internal import COpenSSL

/// An RSA public key from a JWK's modulus and exponent, for verifying RS256 JWTs (Google ID
/// tokens, Pub/Sub push tokens). Owns its EVP_PKEY.
public final class RSAPublicKey: @unchecked Sendable {
    // @unchecked: the EVP_PKEY is immutable after construction; verification uses its own contexts.
    private let key: OpaquePointer

    /// - Parameters: big-endian `modulus` (JWK `n`) and `exponent` (JWK `e`), base64url-decoded.
    /// - Throws: `CryptoError` when they do not form an RSA key.
    public init(modulus: [UInt8], exponent: [UInt8]) throws(CryptoError) {
        guard !modulus.isEmpty, !exponent.isEmpty, let builder = OSSL_PARAM_BLD_new() else { throw CryptoError("not an RSA public key") }
        defer { OSSL_PARAM_BLD_free(builder) }
        let n = BN_bin2bn(modulus, Int32(modulus.count), nil)
        let e = BN_bin2bn(exponent, Int32(exponent.count), nil)
        defer { BN_free(n); BN_free(e) }
        guard nexa_param_bld_push_rsa_public(builder, n, e) == 1, let params = OSSL_PARAM_BLD_to_param(builder) else {
            throw CryptoError("not an RSA public key")
        }
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else { throw CryptoError("cannot create an RSA context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_fromdata_init(ctx) == 1, EVP_PKEY_fromdata(ctx, &key, nexa_evp_pkey_public_key_selection(), params) == 1,
              let key else {
            throw CryptoError("not an RSA public key")
        }
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether `signature` is a valid RS256 (PKCS#1 v1.5, SHA-256) signature of `message`.
    public func verifyRS256(_ signature: [UInt8], message: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { return false }
        return EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1
    }
}
