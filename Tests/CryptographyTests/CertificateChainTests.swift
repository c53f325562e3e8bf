import Cryptography
import Foundation
import TestSupport
import Testing

/// A certificate's key is used only when its chain verifies to the trusted bundle, at the time given.
@Suite(.hangGuard) struct CertificateChainTests {
    let ca = Array(TestKeys.paypalCAPEM.utf8)
    let now = Date()  // the test certificates are valid from 2026-12-06 for a century

    @Test func aCertificateIssuedByTheTrustedCAGivesItsKey() throws {
        let key = try PublicKey(verifiedCertificateChainPEM: Array(TestKeys.paypalChainedCertificatePEM.utf8), trustedPEM: ca, at: now)
        let signer = try PrivateKey(pem: Array(TestKeys.paypalPrivateKeyPEM.utf8))
        #expect(key.verifySHA256(try signer.signSHA256(Array("message".utf8)), message: Array("message".utf8)))
        // The CA among other certificates of a bundle (order does not matter).
        let bundle = Array((TestKeys.paypalCertificatePEM + "\n" + TestKeys.paypalCAPEM).utf8)
        _ = try PublicKey(verifiedCertificateChainPEM: Array(TestKeys.paypalChainedCertificatePEM.utf8), trustedPEM: bundle, at: now)
    }

    @Test func selfSignedExpiredOrUntrustedCertificatesAreRefusedWithTheReason() {
        #expect(throws: CryptoError.self) {
            _ = try PublicKey(verifiedCertificateChainPEM: Array(TestKeys.paypalCertificatePEM.utf8), trustedPEM: ca, at: now)
        }
        do {
            _ = try PublicKey(verifiedCertificateChainPEM: Array(TestKeys.paypalChainedCertificatePEM.utf8), trustedPEM: ca,
                              at: Date(timeIntervalSince1970: 7_258_118_400))  // 2200: past the certificate's validity
            Issue.record("an expired certificate was accepted")
        } catch {
            #expect("\(error)".contains("expired"))
        }
        #expect(throws: CryptoError.self) {
            _ = try PublicKey(verifiedCertificateChainPEM: Array("not a certificate".utf8), trustedPEM: ca, at: now)
        }
        #expect(throws: CryptoError.self) {
            _ = try PublicKey(verifiedCertificateChainPEM: Array(TestKeys.paypalChainedCertificatePEM.utf8), trustedPEM: [], at: now)
        }
    }
}
