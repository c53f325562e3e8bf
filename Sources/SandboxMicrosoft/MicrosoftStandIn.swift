import Cryptography
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
public import Sandbox
import Synchronization

/// The Microsoft identity platform (v2) as Outlook connections use it: `/{tenant}/oauth2/v2.0/authorize`
/// and `/token` (authorization code with PKCE, refresh tokens that rotate), Graph's `/v1.0/me`,
/// and Azure AD's error shape (`error`, `error_description` with its AADSTS code, `error_codes`,
/// `timestamp`, `trace_id`, `correlation_id`). Consent is decided by a control:
/// `POST /_sandbox/microsoft/settings {"consent": "approve"|"deny", "grant": [scopes]}`;
/// `POST /_sandbox/microsoft/revoke` invalidates every refresh token (the user revoked access).
public struct MicrosoftStandIn: StandIn {
    public struct Configuration: Sendable {
        public var clientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
        public var clientSecret = "nexa-sandbox-microsoft-secret"
        public var redirectURIs = ["http://127.0.0.1:8080/oauth/microsoft/callback"]
        public var email = "ana@nexa-demo.test"
        public var tenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"
        public init() {}
    }

    public let name = "microsoft"
    public let configuration: Configuration
    let state = IdentityStore()
    let signer: JWTSigner

    public init(configuration: Configuration = .init()) throws {
        self.configuration = configuration
        signer = try JWTSigner()
    }

    public var startupSummary: String {
        "identity platform v2 + Graph /me; client \(configuration.clientID), secret \(configuration.clientSecret), user \(configuration.email)"
    }

    public func faultResponse(status: Int) -> (body: JSON, headers: [(String, String)]) {
        (Self.errorBody("temporarily_unavailable", "AADSTS500011", 500011, "injected failure (\(status))"), [])
    }

    public func addRoutes(to group: RouterGroup<SandboxContext>) {
        let api = MicrosoftIdentity(configuration: configuration, state: state, signer: signer)
        group.get(":tenant/oauth2/v2.0/authorize") { request, context in api.authorize(request, tenant: context.parameters.get("tenant") ?? "") }
        group.post(":tenant/oauth2/v2.0/token") { request, _ in try await api.token(request) }
        group.get("graph/v1.0/me") { request, _ in api.me(request) }
    }

    public func addControlRoutes(to group: RouterGroup<SandboxContext>) {
        let state = self.state
        group.post("settings") { request, _ in
            var request = request
            let body = await request.jsonBody() ?? .null
            state.withLock { s in
                if let consent = body["consent"].stringValue { s.approve = consent != "deny" }
                if case .array(let grant) = body["grant"] { s.grant = grant.compactMap(\.stringValue) } else { s.grant = nil }
            }
            return Response(status: .noContent)
        }
        group.post("revoke") { _, _ in
            state.withLock { $0.refreshTokens.removeAll() }
            return Response(status: .noContent)
        }
    }

    /// Azure AD's error document.
    static func errorBody(_ error: String, _ code: String, _ number: Int, _ text: String) -> JSON {
        ["error": .string(error), "error_description": .string("\(code): \(text)"), "error_codes": [.int(Int64(number))],
         "timestamp": .string(ISO8601DateFormatter().string(from: Date())), "trace_id": .string(UUID().uuidString.lowercased()),
         "correlation_id": .string(UUID().uuidString.lowercased())]
    }
}

/// The stand-in's state, shared by its routes.
final class IdentityStore: Sendable {
    private let state = Mutex(IdentityState())

    func withLock<R>(_ body: (inout IdentityState) -> R) -> R { state.withLock { body(&$0) } }
}

/// Codes, tokens and the consent setting.
struct IdentityState {
    struct Code {
        var redirectURI: String
        var scopes: [String]
        var challenge: String?
        var expires: Date
    }

    var approve = true
    /// The scopes the user grants (nil: all asked for).
    var grant: [String]?
    var codes: [String: Code] = [:]
    var redeemed: Set<String> = []
    /// Refresh token → its scopes. A refresh replaces the token used.
    var refreshTokens: [String: [String]] = [:]
    var accessTokens: Set<String> = []
}
