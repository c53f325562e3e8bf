import TestSupport
import Cryptography
import Testing

@Suite(.hangGuard) struct DigestTests {
    @Test func sha256KnownVector() {
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func hmacRFC4231Case2() {
        let mac = Digest.hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(Digest.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func constantTimeEquals() {
        #expect(Digest.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Digest.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Digest.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(Digest.constantTimeEquals([UInt8](), []))
    }

    @Test func randomBytesDiffer() {
        let a = Digest.randomBytes(32), b = Digest.randomBytes(32)
        #expect(a.count == 32 && a != b)
    }

    @Test func hexRoundTripsAndRefusesNonHex() {
        let bytes = Digest.randomBytes(33)
        #expect(Digest.hexDecode(Digest.hex(bytes)) == bytes)
        #expect(Digest.hexDecode("0aFF") == [0x0a, 0xff])
        #expect(Digest.hexDecode("abc") == nil)
        #expect(Digest.hexDecode("zz") == nil)
    }

    @Test func base64URL() {
        #expect(Digest.base64URL(Array("f".utf8)) == "Zg")
        #expect(Digest.base64URL(Array("fo".utf8)) == "Zm8")
        #expect(Digest.base64URL(Array("foo".utf8)) == "Zm9v")
        #expect(Digest.base64URL([0xfb, 0xff]) == "-_8")
    }
}

@Suite(.hangGuard) struct AESGCMTests {
    let key = Digest.randomBytes(32)

    @Test func roundTrip() throws {
        let box = try AESGCM(key: key).seal(Array("refresh-token".utf8), associatedData: Array("conn-1".utf8))
        #expect(box.count == 12 + 13 + 16)
        #expect(try AESGCM(key: key).open(box, associatedData: Array("conn-1".utf8)) == Array("refresh-token".utf8))
    }

    @Test func tamperedCiphertextIsRejected() throws {
        var box = try AESGCM(key: key).seal(Array("secret".utf8))
        box[14] ^= 1
        #expect(throws: CryptoError.self) { try AESGCM(key: key).open(box) }
    }

    @Test func wrongKeyOrAssociatedDataIsRejected() throws {
        let box = try AESGCM(key: key).seal(Array("secret".utf8), associatedData: [1])
        #expect(throws: CryptoError.self) { try AESGCM(key: Digest.randomBytes(32)).open(box, associatedData: [1]) }
        #expect(throws: CryptoError.self) { try AESGCM(key: key).open(box, associatedData: [2]) }
    }

    @Test func keyMustBe32Bytes() {
        #expect(throws: CryptoError.self) { try AESGCM(key: [1, 2, 3]) }
    }

    @Test func sameInputSealsDifferently() throws {
        let a = try AESGCM(key: key).seal([1, 2, 3]), b = try AESGCM(key: key).seal([1, 2, 3])
        #expect(a != b)
    }
}

@Suite(.hangGuard) struct RSATests {
    @Test func signsAndVerifiesRS256ThroughTheJWKComponents() throws {
        let key = try PrivateKey(rsaBits: 2048)
        let message = Array("header.payload".utf8)
        let signature = try key.signSHA256(message)
        #expect(signature.count == 256)
        let (n, e) = key.publicComponents
        #expect(e == [0x01, 0x00, 0x01])
        let publicKey = try PublicKey(rsaModulus: n, exponent: e)
        #expect(publicKey.verifySHA256(signature, message: message))
        #expect(!publicKey.verifySHA256(signature, message: Array("header.payloaD".utf8)))
        var bent = signature
        bent[10] ^= 1
        #expect(!publicKey.verifySHA256(bent, message: message))
        let other = try PrivateKey(rsaBits: 2048).publicComponents
        #expect(try !PublicKey(rsaModulus: other.modulus, exponent: other.exponent).verifySHA256(signature, message: message))
    }

    @Test func pkceS256MatchesRFC7636AppendixB() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        #expect(Digest.base64URL(Digest.sha256(Array(verifier.utf8))) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    @Test func base64URLRoundTrips() {
        for count in 0..<40 {
            let bytes = Digest.randomBytes(count)
            #expect(Digest.base64URLDecode(Digest.base64URL(bytes)) == bytes)
        }
        #expect(Digest.base64URLDecode("a") == nil)
        #expect(Digest.base64URLDecode("ab$d") == nil)
    }
}

/// The signature schemes of the webhook providers, with the vectors of the provider reference.
@Suite(.hangGuard) struct WebhookSignatureSchemeTests {
    @Test func intercomHMACSHA1Vector() {
        let mac = Digest.hmacSHA1(key: Array("client_secret_test".utf8), data: Array(#"{"type":"notification_event","topic":"ping"}"#.utf8))
        #expect(Digest.hex(mac) == "d7ad7d9b7d21ee2836d335c30ce51982ecf1aa92")
    }

    @Test func zendeskBase64HMACVector() {
        let message = "2024-04-17T17:18:10Z" + #"{"type":"zen:event-type:ticket.created","id":"01HTEST"}"#
        let mac = Digest.hmacSHA256(key: Array("dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==".utf8), data: Array(message.utf8))
        #expect(Digest.base64(mac) == "UX97gOvLxnBYeKHbWewjDZbz8T34CYuUtXGsjxF3PkY=")
    }

    @Test func paypalCRC32Vector() {
        #expect(Digest.crc32(Array(#"{"id":"WH-TEST","event_type":"PAYMENT.SALE.COMPLETED"}"#.utf8)) == 1_088_916_326)
        #expect(Digest.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func standardBase64() {
        #expect(Digest.base64(Array("f".utf8)) == "Zg==")
        #expect(Digest.base64(Array("fo".utf8)) == "Zm8=")
        #expect(Digest.base64([0xfb, 0xff, 0xbf]) == "+/+/")
    }

    @Test func sendgridECDSAVectorVerifiesOnlyWithItsTrailingCRLF() throws {
        let key = try PublicKey(subjectPublicKeyInfo: try #require(Digest.base64URLDecode(
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")))
        #expect(key.algorithm == "EC")
        let signature = try #require(Digest.base64URLDecode(
            "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="))
        let body = #"[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]"#
        #expect(key.verifySHA256(signature, message: Array(("1600112502" + body + "\r\n").utf8)))
        #expect(!key.verifySHA256(signature, message: Array(("1600112502" + body).utf8)))
        #expect(!key.verifySHA256(signature, message: Array(("1600112503" + body + "\r\n").utf8)))
    }

    @Test func ecdsaSigningWithThePEMKeyVerifiesWithItsSPKI() throws {
        let signer = try PrivateKey(pem: Array(TestKeys.sendgridPrivateKeyPEM.utf8))
        let verifier = try PublicKey(subjectPublicKeyInfo: try #require(Digest.base64URLDecode(TestKeys.sendgridPublicKey)))
        let message = Array("1700000000[{}]\r\n".utf8)
        let signature = try signer.signSHA256(message)
        #expect(signature.first == 0x30, "DER SEQUENCE")
        #expect(verifier.verifySHA256(signature, message: message))
        #expect(!verifier.verifySHA256(signature, message: Array("1700000001[{}]\r\n".utf8)))
    }

    @Test func certificateKeyVerifiesSHA256withRSA() throws {
        let signer = try PrivateKey(pem: Array(TestKeys.paypalPrivateKeyPEM.utf8))
        let certificate = try PublicKey(certificatePEM: Array(TestKeys.paypalCertificatePEM.utf8))
        #expect(certificate.algorithm == "RSA")
        let message = Array("tid|2016-09-21T22:00:46Z|WH1|1088916326".utf8)
        #expect(certificate.verifySHA256(try signer.signSHA256(message), message: message))
        #expect(!certificate.verifySHA256(try signer.signSHA256(message), message: Array("tid|2016-09-21T22:00:46Z|WH2|1088916326".utf8)))
        #expect(throws: CryptoError.self) { try PublicKey(certificatePEM: Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8)) }
        #expect(throws: CryptoError.self) { try PublicKey(subjectPublicKeyInfo: [0x30, 0x03, 0x01, 0x02]) }
    }
}
