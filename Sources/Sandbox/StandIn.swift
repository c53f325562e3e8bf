public import Hummingbird

/// A provider stand-in: serves the provider's API under its own base path, and control routes
/// for tests under `/_sandbox/<name>`.
public protocol StandIn: Sendable {
    /// Path segment of the base URL, e.g. `stripe` → `http://host:port/stripe`.
    var name: String { get }
    /// The provider's API, relative to its base URL.
    func addRoutes(to group: RouterGroup<SandboxContext>)
    /// Scenario controls (`/_sandbox/<name>/…`).
    func addControlRoutes(to group: RouterGroup<SandboxContext>)
    /// What to print at start-up: test keys and secrets.
    var startupSummary: String { get }
    /// The body and extra headers the provider sends with an injected failure status (429, 5xx…).
    func faultResponse(status: Int) -> (body: JSON, headers: [(String, String)])
    /// The same for a request to `path` (below the stand-in's base), for providers whose APIs answer
    /// in different shapes; by default `faultResponse(status:)`.
    func faultResponse(status: Int, path: String) -> (body: JSON, headers: [(String, String)])
    /// The largest request body the stand-in reads (8 MiB unless it says otherwise).
    var maximumRequestBody: Int { get }
}

extension StandIn {
    public func addControlRoutes(to group: RouterGroup<SandboxContext>) {}

    public var maximumRequestBody: Int { 8 * 1024 * 1024 }

    public func faultResponse(status: Int) -> (body: JSON, headers: [(String, String)]) {
        (["error": ["message": .string("injected failure (\(status))")]], [])
    }

    public func faultResponse(status: Int, path: String) -> (body: JSON, headers: [(String, String)]) {
        faultResponse(status: status)
    }
}
