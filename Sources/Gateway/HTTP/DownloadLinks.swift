import Cryptography
public import Foundation

/// Download links the gateway signs: `/v1/downloads/<payload>.<signature>`, the payload naming the
/// blob, its workspace and an expiry (7 days by default), the signature HMAC-SHA256 under a key
/// derived from the vault's. An altered link is refused (403), an expired one is gone (410).
public struct DownloadLinks: Sendable {
    public enum Verdict: Sendable, Hashable {
        case valid(blobKey: String, workspace: UUID)
        case tampered
        case expired
    }

    private let key: [UInt8]
    let publicURL: String
    public var lifetime: TimeInterval = 7 * 24 * 3600

    public init(vault: TokenVault, publicURL: String) {
        key = vault.derivedKey(purpose: "download-links")
        self.publicURL = publicURL
    }

    public func make(blobKey: String, workspace: UUID, now: Date = Date()) -> (url: String, expires: Date) {
        let expires = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + lifetime).rounded(.down))
        let payload = Digest.base64URL(Array("\(Int(expires.timeIntervalSince1970))|\(workspace.uuidString.lowercased())|\(blobKey)".utf8))
        let signature = Digest.base64URL(Digest.hmacSHA256(key: key, data: Array(payload.utf8)))
        return ("\(publicURL)/v1/downloads/\(payload).\(signature)", expires)
    }

    public func verify(_ token: String, now: Date = Date()) -> Verdict {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let signature = Digest.base64URLDecode(parts[1]),
              Digest.constantTimeEquals(signature, Digest.hmacSHA256(key: key, data: Array(parts[0].utf8))),
              let payload = Digest.base64URLDecode(parts[0]).flatMap({ String(validating: $0, as: UTF8.self) }) else { return .tampered }
        let fields = payload.split(separator: "|", maxSplits: 2).map(String.init)
        guard fields.count == 3, let expires = TimeInterval(fields[0]), let workspace = UUID(uuidString: fields[1]) else { return .tampered }
        guard now.timeIntervalSince1970 < expires else { return .expired }
        return .valid(blobKey: fields[2], workspace: workspace)
    }
}
