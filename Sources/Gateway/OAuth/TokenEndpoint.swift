import Cryptography
public import CurlHTTP
import Foundation

/// Calls a provider's token and revocation endpoints (client_secret_post, form bodies) over libcurl.
public struct TokenEndpoint: Sendable {
    /// A token response.
    public struct Tokens: Sendable, Hashable {
        public var accessToken: String
        /// Absent on most refreshes (Google); present and rotated on others (Microsoft).
        public var refreshToken: String?
        public var expiresIn: Int
        public var scopes: [String]
        /// The account's email, from the ID token's `email` or `preferred_username`.
        public var email: String?

        public init(accessToken: String, refreshToken: String?, expiresIn: Int, scopes: [String], email: String?) {
            self.accessToken = accessToken
            self.refreshToken = refreshToken
            self.expiresIn = expiresIn
            self.scopes = scopes
            self.email = email
        }
    }

    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The grant is gone (revoked, expired, password changed): the user must reconnect.
        case invalidGrant(String)
        /// Any other refusal by the provider (bad client, bad request).
        case refused(status: Int, error: String)
        /// The provider could not be reached or answered 5xx/429 after retries: try later.
        case unavailable(String)

        public var description: String {
            switch self {
            case .invalidGrant(let d): "invalid_grant: \(d)"
            case .refused(let status, let error): "the provider refused (HTTP \(status)): \(error)"
            case .unavailable(let d): "the provider is unavailable: \(d)"
            }
        }
    }

    let http: HTTPClient

    public init(http: HTTPClient) { self.http = http }

    public func exchange(code: String, verifier: String, redirectURI: String, provider: OAuthProvider) async throws(Failure) -> Tokens {
        try await call(provider, [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
                                  ("code_verifier", verifier)])
    }

    public func refresh(_ refreshToken: String, provider: OAuthProvider) async throws(Failure) -> Tokens {
        try await call(provider, [("grant_type", "refresh_token"), ("refresh_token", refreshToken)])
    }

    /// Revokes a token where the provider supports it. Already-invalid tokens count as revoked.
    public func revoke(_ token: String, provider: OAuthProvider) async throws(Failure) {
        guard let url = provider.revocationURL else { return }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(.form(url, [("token", token)]), retry: .standard)
        } catch {
            throw .unavailable("\(error)")
        }
        guard response.status == 200 || response.status == 400 else {
            throw .unavailable("revocation answered HTTP \(response.status)")
        }
    }

    private func call(_ provider: OAuthProvider, _ pairs: [(String, String)]) async throws(Failure) -> Tokens {
        let request = HTTPClientRequest.form(provider.tokenURL, pairs + [("client_id", provider.clientID), ("client_secret", provider.clientSecret)])
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, retry: .standard)
        } catch {
            throw .unavailable("\(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        guard response.status == 200 else {
            let error = object["error"] as? String ?? "HTTP \(response.status)"
            if error == "invalid_grant" { throw .invalidGrant(object["error_description"] as? String ?? "") }
            if response.status >= 500 || response.status == 429 { throw .unavailable("HTTP \(response.status)") }
            throw .refused(status: response.status, error: error)
        }
        guard let access = object["access_token"] as? String, !access.isEmpty else {
            throw .refused(status: 200, error: "no access_token in the token response")
        }
        return Tokens(
            accessToken: access, refreshToken: object["refresh_token"] as? String,
            expiresIn: (object["expires_in"] as? NSNumber)?.intValue ?? 3600,
            scopes: ((object["scope"] as? String) ?? "").split(separator: " ").map(String.init),
            email: (object["id_token"] as? String).flatMap(Self.email(fromIDToken:)))
    }

    /// The ID token came straight from the token endpoint over TLS, which OpenID Connect Core §3.1.3.7
    /// accepts in place of checking its signature; we read its claims only.
    static func email(fromIDToken token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, let bytes = Digest.base64URLDecode(parts[1]),
              let claims = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return nil }
        return (claims["email"] as? String) ?? (claims["preferred_username"] as? String)
    }
}
