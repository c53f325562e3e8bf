import Platform

/// Which OAuth tokens a caller may read: a key granted `tokens:<service>` (a domain service's
/// identity, see `APIKeys.problem(granting:)`) reads the tokens of that service's providers and no
/// others. No other grant — not `gateway`, not `*` — reads tokens. Over mutual TLS the caller's
/// certificate names its service, and only that service's grant counts.
public enum TokenScopes {
    /// Each domain service's providers.
    public static let providersByService: [String: Set<String>] = [
        "email_calendar": ["google", "microsoft"],
        "marketing": ["mailchimp", "sendgrid"],
        "support": ["zendesk", "intercom"],
        "billing": ["stripe", "paypal"],
    ]

    /// The providers whose tokens `scopes` may read, for a caller proven to be `identity` (nil: not proven).
    public static func providers(grantedBy scopes: [String], identity: String? = nil) -> Set<String> {
        scopes.reduce(into: Set<String>()) { providers, scope in
            guard scope.hasPrefix("tokens:") else { return }
            let service = String(scope.dropFirst(7))
            guard identity == nil || identity == service else { return }
            providers.formUnion(providersByService[service] ?? [])
        }
    }
}
