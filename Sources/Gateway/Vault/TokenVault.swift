import Cryptography
import Foundation

/// Seals secrets at rest with AES-256-GCM. Keys come from the environment, each with an id that is
/// stored beside every ciphertext: the first key seals, every listed key opens, so a key rotates
/// by prepending a new one and re-sealing at leisure. Associated data binds a ciphertext to its
/// row and column, so a sealed value copied elsewhere does not open.
public struct TokenVault: Sendable {
    public struct Sealed: Sendable, Hashable {
        public var keyID: String
        public var box: [UInt8]

        public init(keyID: String, box: [UInt8]) {
            self.keyID = keyID
            self.box = box
        }
    }

    public enum VaultError: Error, Hashable, Sendable, CustomStringConvertible {
        case noKeys
        case malformedKey(String)
        case unknownKeyID(String)
        case cannotOpen(keyID: String)

        public var description: String {
            switch self {
            case .noKeys: "the token vault has no keys (set NEXA_VAULT_KEYS)"
            case .malformedKey(let id): "vault key \"\(id)\" is not <id>:<base64 of 32 bytes>"
            case .unknownKeyID(let id): "no vault key has id \"\(id)\""
            case .cannotOpen(let id): "a value sealed with vault key \"\(id)\" does not open (altered, or bound to another record)"
            }
        }
    }

    private let keys: [(id: String, cipher: AESGCM, bytes: [UInt8])]

    /// - Parameter specification: `id:base64key[,id:base64key…]`, the sealing key first.
    public init(specification: String) throws(VaultError) {
        var keys: [(id: String, cipher: AESGCM, bytes: [UInt8])] = []
        for item in specification.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            guard let colon = item.firstIndex(of: ":") else { throw .malformedKey(item) }
            let id = String(item[..<colon])
            guard !id.isEmpty, let bytes = Digest.base64URLDecode(item[item.index(after: colon)...]), let cipher = try? AESGCM(key: bytes) else {
                throw .malformedKey(id)
            }
            keys.append((id, cipher, bytes))
        }
        guard !keys.isEmpty else { throw .noKeys }
        self.keys = keys
    }

    /// A specification with one fresh random key, for development and tests.
    public static func generatedSpecification(id: String = "dev") -> String {
        "\(id):" + Digest.base64URL(Digest.randomBytes(32))
    }

    /// The id of the key that seals.
    public var activeKeyID: String { keys[0].id }

    /// A key for another purpose (signing links), derived from the sealing key: HMAC-SHA256(key, purpose).
    public func derivedKey(purpose: String) -> [UInt8] {
        Digest.hmacSHA256(key: keys[0].bytes, data: Array("nexa-vault-derive:\(purpose)".utf8))
    }

    public func seal(_ plaintext: [UInt8], context: String) -> Sealed {
        // Sealing fails only when OpenSSL cannot allocate; there is nothing sensible to return then.
        let box = try! keys[0].cipher.seal(plaintext, associatedData: Array(context.utf8))
        return Sealed(keyID: keys[0].id, box: box)
    }

    public func seal(_ text: String, context: String) -> Sealed { seal(Array(text.utf8), context: context) }

    public func open(_ sealed: Sealed, context: String) throws(VaultError) -> [UInt8] {
        guard let key = keys.first(where: { $0.id == sealed.keyID }) else { throw .unknownKeyID(sealed.keyID) }
        do {
            return try key.cipher.open(sealed.box, associatedData: Array(context.utf8))
        } catch {
            throw .cannotOpen(keyID: sealed.keyID)
        }
    }

    public func openString(_ sealed: Sealed, context: String) throws(VaultError) -> String {
        String(decoding: try open(sealed, context: context), as: UTF8.self)
    }
}
