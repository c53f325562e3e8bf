internal import COpenSSL

/// Names read from X.509 certificates.
public enum CertificateNames {
    /// The subject's common name of a DER certificate; nil when it is not a certificate or has none.
    public static func commonName(der: [UInt8]) -> String? {
        var cursor: UnsafePointer<UInt8>? = nil
        let certificate: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            cursor = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let certificate else { ERR_clear_error(); return nil }
        defer { X509_free(certificate) }
        guard let subject = X509_get_subject_name(certificate) else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        let length = X509_NAME_get_text_by_NID(subject, NID_commonName, &buffer, Int32(buffer.count))
        guard length > 0 else { ERR_clear_error(); return nil }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
