public import Foundation
public import RPCNIO

/// A service's configuration, read from environment variables (12-factor) with local defaults.
public struct ServiceSettings: Sendable {
    /// Short service name (`billing`), also its environment prefix (`NEXA_BILLING_…`).
    public var service: String
    /// Where the RPC port listens (`NEXA_RPC_BIND_HOST`); loopback unless the mesh needs more.
    public var rpcBindHost: String
    /// Where the admin port (`/healthz`, `/readyz`, `/metrics`) listens (`NEXA_ADMIN_BIND_HOST`).
    public var adminBindHost: String
    public var rpcPort: Int
    public var adminPort: Int
    public var databaseURL: String
    public var databasePoolSize: Int
    public var logLevel: String
    public var maximumBodySize: Int
    public var maximumInFlightPerConnection: Int
    public var maximumConnections: Int
    /// Mutual TLS on RPC, as PEM files: `NEXA_RPC_TLS_CERT`, `NEXA_RPC_TLS_KEY`, `NEXA_RPC_TLS_CA`
    /// (all three, or none for plaintext).
    public var rpcTLSFiles: (certificate: String, privateKey: String, trustedCAs: String)?
    public var shutdownGracePeriod: Duration
    public var migrateOnStart: Bool
    /// Base URLs of the providers: the real ones by default; development and tests point them at
    /// `nexa-sandbox` (only configuration changes between the two).
    public var providers: ProviderEndpoints

    /// Default ports: RPC 7001…7006 and admin HTTP 7101…7106, in this order.
    public static let services = ["gateway", "email_calendar", "billing", "marketing", "support", "data_transfer"]

    public static let defaultDatabaseURL = "postgresql://nexa@127.0.0.1:55432/nexa"

    /// Reads the settings of `service` from `environment`.
    /// - Throws: `ConfigurationError` naming the first invalid variable.
    public init(service: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        let prefix = "NEXA_\(service.uppercased())_"
        let index = Self.services.firstIndex(of: service) ?? 0
        let reader = Reader(environment: environment)
        self.service = service
        // One address for every port exposed RPC and /metrics with the public port: it is split.
        if let old = environment["NEXA_BIND_HOST"], !old.isEmpty {
            throw ConfigurationError(variable: "NEXA_BIND_HOST", value: old,
                                     expected: "nothing: set NEXA_RPC_BIND_HOST, NEXA_ADMIN_BIND_HOST and (gateway) NEXA_GATEWAY_HTTP_BIND_HOST instead")
        }
        rpcBindHost = reader.string("NEXA_RPC_BIND_HOST", default: "127.0.0.1")
        adminBindHost = reader.string("NEXA_ADMIN_BIND_HOST", default: "127.0.0.1")
        rpcPort = try reader.port(prefix + "RPC_PORT", default: 7001 + index)
        adminPort = try reader.port(prefix + "ADMIN_PORT", default: 7101 + index)
        databaseURL = reader.string("NEXA_DATABASE_URL", default: Self.defaultDatabaseURL)
        databasePoolSize = try reader.integer("NEXA_DB_POOL_SIZE", default: 8, range: 1...256)
        logLevel = try reader.choice("NEXA_LOG_LEVEL", default: "info", among: ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        maximumBodySize = try reader.integer("NEXA_RPC_MAX_BODY_BYTES", default: 4 * 1024 * 1024, range: 1024...(256 * 1024 * 1024))
        maximumInFlightPerConnection = try reader.integer("NEXA_RPC_MAX_IN_FLIGHT", default: 256, range: 1...100_000)
        maximumConnections = try reader.integer("NEXA_RPC_MAX_CONNECTIONS", default: 1024, range: 1...1_000_000)
        let tls = ["NEXA_RPC_TLS_CERT", "NEXA_RPC_TLS_KEY", "NEXA_RPC_TLS_CA"].map { reader.string($0, default: "") }
        if tls.allSatisfy({ !$0.isEmpty }) {
            rpcTLSFiles = (tls[0], tls[1], tls[2])
        } else if let set = tls.firstIndex(where: { !$0.isEmpty }) {
            throw ConfigurationError(variable: ["NEXA_RPC_TLS_CERT", "NEXA_RPC_TLS_KEY", "NEXA_RPC_TLS_CA"][set], value: tls[set],
                                     expected: "NEXA_RPC_TLS_CERT, NEXA_RPC_TLS_KEY and NEXA_RPC_TLS_CA together (mutual TLS needs all three)")
        }
        shutdownGracePeriod = .seconds(try reader.integer("NEXA_SHUTDOWN_GRACE_SECONDS", default: 10, range: 0...3600))
        migrateOnStart = try reader.choice("NEXA_MIGRATE_ON_START", default: "true", among: ["true", "false"]) == "true"
        providers = ProviderEndpoints(
            stripeAPI: try reader.url("NEXA_STRIPE_API_URL", default: "https://api.stripe.com"),
            googleAccounts: try reader.url("NEXA_GOOGLE_ACCOUNTS_URL", default: "https://accounts.google.com"),
            googleOAuth2: try reader.url("NEXA_GOOGLE_OAUTH2_URL", default: "https://oauth2.googleapis.com"),
            googleAPIs: try reader.url("NEXA_GOOGLE_APIS_URL", default: "https://www.googleapis.com"),
            gmailAPI: try reader.url("NEXA_GMAIL_API_URL", default: "https://gmail.googleapis.com"),
            smtp: try reader.url("NEXA_SMTP_URL", default: "smtp://localhost:25", schemes: ["smtp", "smtps"])
        )
    }

    /// Mutual TLS from `rpcTLSFiles`, for this service's server and its clients; nil for plaintext.
    /// - Throws: `ConfigurationError` naming the file that is not usable.
    public func rpcTLS() throws(ConfigurationError) -> MutualTLS? {
        guard let files = rpcTLSFiles else { return nil }
        do {
            return try MutualTLS(certificateFile: files.certificate, privateKeyFile: files.privateKey, trustedCAsFile: files.trustedCAs)
        } catch {
            throw ConfigurationError(variable: "NEXA_RPC_TLS_CERT", value: files.certificate, expected: "usable PEM files (\(error))")
        }
    }

    /// The effective configuration, safe to log: the database password is masked.
    public var loggable: [String: String] {
        [
            "service": service, "rpc_bind_host": rpcBindHost, "admin_bind_host": adminBindHost, "rpc_port": "\(rpcPort)", "admin_port": "\(adminPort)",
            "database_url": Self.redacted(databaseURL), "db_pool_size": "\(databasePoolSize)", "log_level": logLevel,
            "rpc_max_body_bytes": "\(maximumBodySize)", "rpc_max_in_flight": "\(maximumInFlightPerConnection)",
            "rpc_max_connections": "\(maximumConnections)", "rpc_tls": rpcTLSFiles.map { "mutual (\($0.certificate))" } ?? "off",
            "shutdown_grace": "\(shutdownGracePeriod)", "migrate_on_start": "\(migrateOnStart)",
            "stripe_api_url": providers.stripeAPI, "google_accounts_url": providers.googleAccounts,
            "google_oauth2_url": providers.googleOAuth2, "google_apis_url": providers.googleAPIs,
            "gmail_api_url": providers.gmailAPI, "smtp_url": Self.redacted(providers.smtp),
        ]
    }

    /// `postgresql://user:secret@host/db` → `postgresql://user:***@host/db`.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex) else {
            return url.replacingOccurrences(of: #"password=\S+"#, with: "password=***", options: .regularExpression)
        }
        let credentials = url[scheme.upperBound..<at.lowerBound]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at.lowerBound...])
    }

    /// The variables a service reads, for `--help`.
    public static func documentation(service: String) -> String {
        let p = "NEXA_\(service.uppercased())_"
        let index = services.firstIndex(of: service) ?? 0
        return """
            Environment:
              NEXA_DATABASE_URL            libpq URL of PostgreSQL (default \(defaultDatabaseURL))
              NEXA_RPC_BIND_HOST           address the RPC port listens on (default 127.0.0.1)
              NEXA_ADMIN_BIND_HOST         address the admin port listens on (default 127.0.0.1)
              \(p)RPC_PORT\(String(repeating: " ", count: max(1, 21 - p.count)))protobuf-c-rpc port (default \(7001 + index))
              \(p)ADMIN_PORT\(String(repeating: " ", count: max(1, 19 - p.count)))HTTP /healthz /readyz /metrics (default \(7101 + index))
              NEXA_DB_POOL_SIZE            database connections (default 8)
              NEXA_LOG_LEVEL               trace|debug|info|notice|warning|error|critical (default info)
              NEXA_RPC_MAX_BODY_BYTES      largest request body (default 4194304)
              NEXA_RPC_MAX_IN_FLIGHT       calls running per connection before reads pause (default 256)
              NEXA_RPC_MAX_CONNECTIONS     RPC connections open at once; more are closed (default 1024)
              NEXA_RPC_TLS_CERT, NEXA_RPC_TLS_KEY, NEXA_RPC_TLS_CA
                                           mutual TLS on RPC: this service's certificate and key, the CA
                                           peers' certificates chain to (PEM files; default: plaintext)
              NEXA_SHUTDOWN_GRACE_SECONDS  time in-flight calls get on SIGTERM (default 10)
              NEXA_MIGRATE_ON_START        apply migrations at start-up (default true)
              NEXA_STRIPE_API_URL          Stripe API base URL (default https://api.stripe.com)
              NEXA_GOOGLE_ACCOUNTS_URL     Google OAuth consent (default https://accounts.google.com)
              NEXA_GOOGLE_OAUTH2_URL       Google token endpoint base (default https://oauth2.googleapis.com)
              NEXA_GOOGLE_APIS_URL         Google APIs, JWKS, Calendar (default https://www.googleapis.com)
              NEXA_GMAIL_API_URL           Gmail API base URL (default https://gmail.googleapis.com)
              NEXA_SMTP_URL                outgoing mail server (default smtp://localhost:25)
            """
    }
}

/// Where each provider is reached (no trailing slash).
public struct ProviderEndpoints: Sendable, Hashable {
    public var stripeAPI: String
    public var googleAccounts: String
    public var googleOAuth2: String
    public var googleAPIs: String
    public var gmailAPI: String
    public var smtp: String

    public init(stripeAPI: String, googleAccounts: String, googleOAuth2: String, googleAPIs: String, gmailAPI: String, smtp: String) {
        self.stripeAPI = stripeAPI
        self.googleAccounts = googleAccounts
        self.googleOAuth2 = googleOAuth2
        self.googleAPIs = googleAPIs
        self.gmailAPI = gmailAPI
        self.smtp = smtp
    }
}

/// An environment variable with a value the service cannot use.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var variable: String
    public var value: String
    public var expected: String

    public init(variable: String, value: String, expected: String) {
        self.variable = variable
        self.value = value
        self.expected = expected
    }

    public var description: String { "invalid \(variable)=\"\(value)\": expected \(expected)" }
}

private struct Reader {
    var environment: [String: String]

    func string(_ name: String, default value: String) -> String {
        guard let v = environment[name], !v.isEmpty else { return value }
        return v
    }

    func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = environment[name], !text.isEmpty else { return value }
        guard let v = Int(text), range.contains(v) else {
            throw ConfigurationError(variable: name, value: text, expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// An absolute URL with one of `schemes`, without a trailing slash.
    func url(_ name: String, default value: String, schemes: [String] = ["https", "http"]) throws(ConfigurationError) -> String {
        guard let text = environment[name], !text.isEmpty else { return value }
        guard let components = URLComponents(string: text), let scheme = components.scheme, schemes.contains(scheme),
              components.host?.isEmpty == false else {
            throw ConfigurationError(variable: name, value: text, expected: "an absolute \(schemes.joined(separator: " or ")) URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    func port(_ name: String, default value: Int) throws(ConfigurationError) -> Int {
        try integer(name, default: value, range: 0...65535)
    }

    func choice(_ name: String, default value: String, among choices: [String]) throws(ConfigurationError) -> String {
        guard let text = environment[name], !text.isEmpty else { return value }
        guard choices.contains(text.lowercased()) else {
            throw ConfigurationError(variable: name, value: text, expected: "one of \(choices.joined(separator: ", "))")
        }
        return text.lowercased()
    }
}
