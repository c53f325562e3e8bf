import Platform

/// Which OAuth tokens a caller may read: a key granted `tokens:<service>` (a domain service's
/// identity, see `APIKeys.problem(granting:)`) reads the tokens of that service's providers and no
/// others. No other grant — not `gateway`, not `*` — reads tokens.
enum TokenScopes {
    /// Each domain service's providers.
    static let providersByService: [String: Set<String>] = [
        "email_calendar": ["google", "microsoft"],
        "marketing": ["mailchimp", "sendgrid"],
        "support": ["zendesk", "intercom"],
        "billing": ["stripe", "paypal"],
    ]

    /// The providers whose tokens `scopes` may read.
    static func providers(grantedBy scopes: [String]) -> Set<String> {
        scopes.reduce(into: Set<String>()) { providers, scope in
            guard scope.hasPrefix("tokens:") else { return }
            providers.formUnion(providersByService[String(scope.dropFirst(7))] ?? [])
        }
    }
}
