import Foundation
import Sandbox

/// Google's OAuth state: pending consents, authorization codes, refresh and access tokens.
actor GoogleOAuthStore {
    typealias User = GoogleUser

    /// An authorization request waiting on the consent page.
    struct Pending: Sendable {
        var clientID: String
        var redirectURI: String
        var scopes: [String]
        var state: String?
        var codeChallenge: String?
        var challengeMethod: String
        var offline: Bool
        var forceConsent: Bool
        var nonce: String?
        var user: User
    }

    /// What a code, refresh token or access token stands for.
    struct Grant: Sendable {
        var clientID: String
        var user: User
        var scopes: [String]
        var nonce: String?
    }

    struct Code: Sendable {
        var grant: Grant
        var redirectURI: String
        var codeChallenge: String?
        var challengeMethod: String
        var offline: Bool
        var forceConsent: Bool
        var expires: Date
        var used = false
    }

    enum Consent: String, Sendable { case page, approve, deny }

    var consent: Consent = .page
    /// Seconds an access token lives (`expires_in`); Google's is 3599, test tenants may set less.
    private(set) var accessTokenLifetime = 3599
    /// When set, approving grants only these scopes (granular consent: the user unticked others).
    var grantedScopes: [String]?
    private(set) var pending: [String: Pending] = [:]
    private var codes: [String: Code] = [:]
    private var refreshTokens: [String: Grant] = [:]
    private var accessTokens: [String: (grant: Grant, expires: Date)] = [:]
    /// Client and user pairs that consented before: Google then issues no new refresh token.
    private var consented: Set<String> = []
    private var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    func token(_ prefix: String, length: Int = 40) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_")
        return prefix + String((0..<length).map { _ in alphabet[Int(rng.next() % 64)] })
    }

    func addPending(_ p: Pending) -> String {
        let id = token("consent_", length: 16)
        pending[id] = p
        return id
    }

    func takePending(_ id: String) -> Pending? { pending.removeValue(forKey: id) }

    func issueCode(for p: Pending, scopes: [String]) -> String {
        let code = "4/0" + token("", length: 60)
        codes[code] = Code(grant: Grant(clientID: p.clientID, user: p.user, scopes: scopes, nonce: p.nonce), redirectURI: p.redirectURI,
                           codeChallenge: p.codeChallenge, challengeMethod: p.challengeMethod, offline: p.offline,
                           forceConsent: p.forceConsent, expires: Date().addingTimeInterval(600))
        return code
    }

    enum Redemption { case ok(Code), unknown, used, expired }

    /// Single use: a second redemption fails, and so does an expired code.
    func redeem(_ code: String) -> Redemption {
        guard var c = codes[code] else { return .unknown }
        guard !c.used else { return .used }
        guard c.expires > Date() else { return .expired }
        c.used = true
        codes[code] = c
        return .ok(c)
    }

    /// Issues tokens for a redeemed code: a refresh token only when offline access was asked and
    /// this is the first consent of the pair (or the consent was forced).
    func issueTokens(for code: Code) -> (access: String, refresh: String?) {
        let access = token("ya29.sandbox-")
        accessTokens[access] = (code.grant, Date().addingTimeInterval(TimeInterval(accessTokenLifetime)))
        let pair = "\(code.grant.clientID)|\(code.grant.user.sub)"
        var refresh: String? = nil
        if code.offline && (code.forceConsent || !consented.contains(pair)) {
            let r = "1//sandbox-" + token("", length: 60)
            refreshTokens[r] = code.grant
            refresh = r
        }
        consented.insert(pair)
        return (access, refresh)
    }

    func refresh(_ token: String, clientID: String) -> (access: String, grant: Grant)? {
        guard let grant = refreshTokens[token], grant.clientID == clientID else { return nil }
        let access = self.token("ya29.sandbox-")
        accessTokens[access] = (grant, Date().addingTimeInterval(TimeInterval(accessTokenLifetime)))
        return (access, grant)
    }

    func grant(forAccessToken token: String) -> Grant? {
        guard let entry = accessTokens[token], entry.expires > Date() else { return nil }
        return entry.grant
    }

    /// Revokes an access or refresh token; revoking a refresh token also revokes its access tokens.
    func revoke(_ token: String) -> Bool {
        if let grant = refreshTokens.removeValue(forKey: token) {
            accessTokens = accessTokens.filter { !($0.value.grant.user == grant.user && $0.value.grant.clientID == grant.clientID) }
            return true
        }
        return accessTokens.removeValue(forKey: token) != nil
    }

    /// Revokes every refresh token of a user (as a password change or a revocation in the account page).
    func revokeAll(email: String?) -> Int {
        let before = refreshTokens.count
        refreshTokens = refreshTokens.filter { email != nil && $0.value.user.email != email }
        return before - refreshTokens.count
    }

    func configure(consent: Consent?, grantedScopes: [String]??, accessTokenLifetime: Int?) {
        if let consent { self.consent = consent }
        if let accessTokenLifetime { self.accessTokenLifetime = accessTokenLifetime }
        if let grantedScopes { self.grantedScopes = grantedScopes }
    }
}
