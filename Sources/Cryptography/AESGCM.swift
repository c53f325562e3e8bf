internal import COpenSSL

/// AES-256-GCM authenticated encryption. A sealed box is `nonce (12) ‖ ciphertext ‖ tag (16)`.
public struct AESGCM: Sendable {
    private let key: [UInt8]

    /// - Throws: `CryptoError` unless the key is exactly 32 bytes.
    public init(key: [UInt8]) throws(CryptoError) {
        guard key.count == 32 else { throw CryptoError("an AES-256 key must be 32 bytes, not \(key.count)") }
        self.key = key
    }

    /// Encrypts with a fresh random nonce; `associatedData` is authenticated, not encrypted.
    public func seal(_ plaintext: [UInt8], associatedData: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        let nonce = Digest.randomBytes(12)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError("cannot create a cipher context") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce) == 1 else { throw CryptoError("encryption failed") }
        if !associatedData.isEmpty {
            guard EVP_EncryptUpdate(ctx, nil, &length, associatedData, Int32(associatedData.count)) == 1 else {
                throw CryptoError("encryption failed")
            }
        }
        let ok = out.withUnsafeMutableBufferPointer { o in
            EVP_EncryptUpdate(ctx, o.baseAddress, &length, plaintext, Int32(plaintext.count))
        }
        guard ok == 1 else { throw CryptoError("encryption failed") }
        total = Int(length)
        let finalOK = out.withUnsafeMutableBufferPointer { o in EVP_EncryptFinal_ex(ctx, o.baseAddress! + total, &length) }
        guard finalOK == 1 else { throw CryptoError("encryption failed") }
        total += Int(length)
        var tag = [UInt8](repeating: 0, count: 16)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, &tag) == 1 else { throw CryptoError("encryption failed") }
        return nonce + out[..<total] + tag
    }

    /// Decrypts and authenticates a sealed box.
    /// - Throws: `CryptoError` when the box was altered, or sealed under another key or associated data.
    public func open(_ box: [UInt8], associatedData: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        guard box.count >= 28 else { throw CryptoError("the ciphertext is too short") }
        let nonce = Array(box[0..<12])
        let ciphertext = Array(box[12..<(box.count - 16)])
        var tag = Array(box[(box.count - 16)...])
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError("cannot create a cipher context") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var length: Int32 = 0
        guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce) == 1 else { throw CryptoError("decryption failed") }
        if !associatedData.isEmpty {
            guard EVP_DecryptUpdate(ctx, nil, &length, associatedData, Int32(associatedData.count)) == 1 else {
                throw CryptoError("decryption failed")
            }
        }
        let ok = out.withUnsafeMutableBufferPointer { o in
            EVP_DecryptUpdate(ctx, o.baseAddress, &length, ciphertext, Int32(ciphertext.count))
        }
        guard ok == 1 else { throw CryptoError("decryption failed") }
        let total = Int(length)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, &tag) == 1 else { throw CryptoError("decryption failed") }
        let finalOK = out.withUnsafeMutableBufferPointer { o in EVP_DecryptFinal_ex(ctx, o.baseAddress! + total, &length) }
        guard finalOK == 1 else { throw CryptoError("the ciphertext failed authentication") }
        return Array(out[..<(total + Int(length))])
    }
}
