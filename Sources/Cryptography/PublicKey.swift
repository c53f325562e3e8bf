internal import COpenSSL
public import Foundation

/// A public key for checking SHA-256 signatures: RSA PKCS#1 v1.5 from a JWK (RS256 JWTs: Google ID
/// tokens, Pub/Sub push tokens) or from a PEM X.509 certificate (PayPal's `SHA256withRSA`), and
/// ECDSA P-256 from DER SubjectPublicKeyInfo (SendGrid's event webhook, DER `SEQUENCE {r, s}`
/// signatures). Owns its EVP_PKEY.
public final class PublicKey: @unchecked Sendable {
    // @unchecked: the EVP_PKEY is immutable after construction; verification uses its own contexts.
    private let key: OpaquePointer

    /// The kind of key, as OpenSSL names it (`EC`, `RSA`).
    public let algorithm: String

    /// - Parameters: big-endian `modulus` (JWK `n`) and `exponent` (JWK `e`), base64url-decoded.
    /// - Throws: `CryptoError` when they do not form an RSA key.
    public init(rsaModulus modulus: [UInt8], exponent: [UInt8]) throws(CryptoError) {
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
        algorithm = "RSA"
    }

    /// - Parameter der: a DER SubjectPublicKeyInfo (`MFkwEwYHKoZIzj0CAQYI…` once base64-decoded).
    public init(subjectPublicKeyInfo der: [UInt8]) throws(CryptoError) {
        var cursor: UnsafePointer<UInt8>? = nil
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            cursor = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let parsed else { throw CryptoError("not a DER SubjectPublicKeyInfo") }
        key = parsed
        algorithm = Self.name(of: parsed)
    }

    /// - Parameter pem: an X.509 certificate in PEM form; its subject key is used (the chain is not checked).
    public init(certificatePEM pem: [UInt8]) throws(CryptoError) {
        let certificates = Self.certificates(in: pem)
        defer { certificates.forEach { X509_free($0) } }
        guard let certificate = certificates.first else { throw CryptoError("not a PEM X.509 certificate") }
        guard let parsed = X509_get_pubkey(certificate) else { throw CryptoError("the certificate has no usable public key") }
        key = parsed
        algorithm = Self.name(of: parsed)
    }

    /// The subject key of the first certificate in `chainPEM` (the leaf; any certificates after it
    /// are intermediates), once the chain verifies up to one of the certificates in `trustedPEM`
    /// (a CA bundle) at `date`: signatures, validity periods, CA constraints.
    /// - Throws: `CryptoError` naming OpenSSL's reason when it does not.
    public init(verifiedCertificateChainPEM chainPEM: [UInt8], trustedPEM: [UInt8], at date: Date) throws(CryptoError) {
        let chain = Self.certificates(in: chainPEM)
        let roots = Self.certificates(in: trustedPEM)
        defer { (chain + roots).forEach { X509_free($0) } }
        guard let leaf = chain.first else { throw CryptoError("not a PEM X.509 certificate") }
        guard !roots.isEmpty else { throw CryptoError("the trusted bundle holds no certificate") }
        guard let store = X509_STORE_new(), let untrusted = OPENSSL_sk_new_null(), let context = X509_STORE_CTX_new() else {
            throw CryptoError("cannot create a certificate store")
        }
        defer { X509_STORE_CTX_free(context); OPENSSL_sk_free(untrusted); X509_STORE_free(store) }
        for root in roots { X509_STORE_add_cert(store, root) }
        for intermediate in chain.dropFirst() { OPENSSL_sk_push(untrusted, UnsafeRawPointer(intermediate)) }
        guard X509_STORE_CTX_init(context, store, leaf, untrusted) == 1 else { throw CryptoError("cannot start the chain check") }
        X509_STORE_CTX_set_time(context, 0, time_t(date.timeIntervalSince1970))
        guard X509_verify_cert(context) == 1 else {
            let reason = String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(context))))
            ERR_clear_error()
            throw CryptoError("the certificate chain does not verify: \(reason)")
        }
        guard let parsed = X509_get_pubkey(leaf) else { throw CryptoError("the certificate has no usable public key") }
        key = parsed
        algorithm = Self.name(of: parsed)
    }

    /// Every certificate in a PEM text, in order (the caller frees them).
    private static func certificates(in pem: [UInt8]) -> [OpaquePointer] {
        pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return [] }
            defer { BIO_free(bio) }
            var found: [OpaquePointer] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { found.append(certificate) }
            ERR_clear_error()  // the end of the text reads as an error
            return found
        }
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether `signature` is a valid SHA-256 signature of `message` under this key (ECDSA DER or RSA PKCS#1 v1.5).
    public func verifySHA256(_ signature: [UInt8], message: [UInt8]) -> Bool {
        guard !signature.isEmpty, let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { return false }
        let ok = EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1
        ERR_clear_error()
        return ok
    }

    private static func name(of key: OpaquePointer) -> String {
        guard let name = EVP_PKEY_get0_type_name(key) else { return "unknown" }
        return String(cString: name)
    }
}
