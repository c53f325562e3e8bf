import Cryptography
import Testing

@Suite struct DigestTests {
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

    @Test func base64URL() {
        #expect(Digest.base64URL(Array("f".utf8)) == "Zg")
        #expect(Digest.base64URL(Array("fo".utf8)) == "Zm8")
        #expect(Digest.base64URL(Array("foo".utf8)) == "Zm9v")
        #expect(Digest.base64URL([0xfb, 0xff]) == "-_8")
    }
}

@Suite struct AESGCMTests {
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

@Suite struct RSATests {
    @Test func signsAndVerifiesRS256ThroughTheJWKComponents() throws {
        let key = try RSAPrivateKey(bits: 2048)
        let message = Array("header.payload".utf8)
        let signature = try key.signRS256(message)
        #expect(signature.count == 256)
        let (n, e) = key.publicComponents
        #expect(e == [0x01, 0x00, 0x01])
        let publicKey = try RSAPublicKey(modulus: n, exponent: e)
        #expect(publicKey.verifyRS256(signature, message: message))
        #expect(!publicKey.verifyRS256(signature, message: Array("header.payloaD".utf8)))
        var bent = signature
        bent[10] ^= 1
        #expect(!publicKey.verifyRS256(bent, message: message))
        let other = try RSAPrivateKey(bits: 2048).publicComponents
        #expect(try !RSAPublicKey(modulus: other.modulus, exponent: other.exponent).verifyRS256(signature, message: message))
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
