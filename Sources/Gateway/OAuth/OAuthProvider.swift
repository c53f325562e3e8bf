public import Foundation
public import Platform

/// An OAuth 2.0 provider as configuration: adding one (Zendesk, Intercom, Mailchimp) is a new
/// value here, not new code.
public struct OAuthProvider: Sendable, Hashable {
    /// The URL segment and stored name (`google`, `microsoft`).
    public var name: String
    public var authorizationURL: String
    public var tokenURL: String
    /// Where disconnect revokes the refresh token (RFC 7009); nil when the provider has none.
    public var revocationURL: String?
    public var clientID: String
    public var clientSecret: String
    /// Requested scopes; every one must be granted (a partial grant is refused).
    public var scopes: [String]
    /// Extra authorization parameters (offline access, consent prompt).
    public var authorizationParameters: [String: String]
    /// The domain service told about new connections.
    public var owningService: String

    public init(name: String, authorizationURL: String, tokenURL: String, revocationURL: String?, clientID: String,
                clientSecret: String, scopes: [String], authorizationParameters: [String: String], owningService: String) {
        self.name = name
        self.authorizationURL = authorizationURL
        self.tokenURL = tokenURL
        self.revocationURL = revocationURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scopes = scopes
        self.authorizationParameters = authorizationParameters
        self.owningService = owningService
    }

    /// The providers whose client credentials are configured (`NEXA_GOOGLE_CLIENT_ID` …).
    public static func configured(
        endpoints: ProviderEndpoints, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> [String: OAuthProvider] {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var providers: [String: OAuthProvider] = [:]
        if let id = value("NEXA_GOOGLE_CLIENT_ID"), let secret = value("NEXA_GOOGLE_CLIENT_SECRET") {
            providers["google"] = OAuthProvider(
                name: "google", authorizationURL: endpoints.googleAccounts + "/o/oauth2/v2/auth",
                tokenURL: endpoints.googleOAuth2 + "/token", revocationURL: endpoints.googleOAuth2 + "/revoke",
                clientID: id, clientSecret: secret,
                scopes: ["openid", "email",
                         "https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.send",
                         "https://www.googleapis.com/auth/calendar.events"],
                authorizationParameters: ["access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"],
                owningService: "email_calendar")
        }
        if let id = value("NEXA_MICROSOFT_CLIENT_ID"), let secret = value("NEXA_MICROSOFT_CLIENT_SECRET") {
            let base = value("NEXA_MICROSOFT_LOGIN_URL") ?? "https://login.microsoftonline.com/common/oauth2/v2.0"
            providers["microsoft"] = OAuthProvider(
                name: "microsoft", authorizationURL: base + "/authorize", tokenURL: base + "/token", revocationURL: nil,
                clientID: id, clientSecret: secret,
                scopes: ["openid", "email", "offline_access", "https://graph.microsoft.com/Mail.ReadWrite",
                         "https://graph.microsoft.com/Mail.Send", "https://graph.microsoft.com/Calendars.ReadWrite"],
                authorizationParameters: ["response_mode": "query", "prompt": "consent"],
                owningService: "email_calendar")
        }
        return providers
    }
}
