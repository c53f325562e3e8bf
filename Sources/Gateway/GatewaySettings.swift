public import Foundation
public import Platform

/// Settings only the gateway reads, from the environment.
public struct GatewaySettings: Sendable {
    /// The public HTTP port (webhooks, OAuth) and the address it listens on.
    public var httpPort: Int
    public var httpBindHost: String
    /// How providers and browsers reach the gateway (OAuth redirect URIs, connect links).
    public var publicURL: String
    /// `id:base64key[,…]`, the sealing key first (`TokenVault`).
    public var vaultKeys: String
    public var webhookMaximumBodySize: Int
    /// Largest CSV upload (`POST /v1/imports`).
    public var importMaximumSize: Int
    /// Hosts (https) or origins PayPal signing certificates may be fetched from, exactly.
    public var paypalCertificateHosts: [String]
    /// The CA bundle PayPal's signing certificates must chain to.
    public var paypalCABundle: String
    /// `durable` (the inbox) or `off` (benchmark baseline only: verified, acknowledged, not stored).
    public var inboxMode: String
    /// Whether this replica delivers inbox events (`NEXA_GATEWAY_DISPATCHER=off` makes an
    /// ingest-only replica; another replica must dispatch).
    public var dispatcherEnabled: Bool
    /// How long the dispatcher leases an event it is delivering; a replica that dies mid-delivery
    /// leaves its events for others after this. Each delivery call may take half of it.
    public var webhookLease: Duration
    /// `host:port` of each domain service's RPC server, by short name.
    public var serviceTargets: [String: String]
    /// The public HTTP server's timeouts.
    public var connectionLimits = ConnectionLimits()

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        func integer(_ name: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let text = value(name) else { return fallback }
            guard let v = Int(text), range.contains(v) else {
                throw ConfigurationError(variable: name, value: text, expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        httpPort = try integer("NEXA_GATEWAY_HTTP_PORT", 8080, 0...65535)
        httpBindHost = value("NEXA_GATEWAY_HTTP_BIND_HOST") ?? "127.0.0.1"
        publicURL = value("NEXA_GATEWAY_PUBLIC_URL") ?? "http://127.0.0.1:\(httpPort)"
        if publicURL.hasSuffix("/") { publicURL.removeLast() }
        guard let keys = value("NEXA_VAULT_KEYS") else {
            throw ConfigurationError(variable: "NEXA_VAULT_KEYS", value: "", expected: "id:base64(32 bytes)[,id:…] (the token vault's keys)")
        }
        do { _ = try TokenVault(specification: keys) } catch {
            throw ConfigurationError(variable: "NEXA_VAULT_KEYS", value: "***", expected: "\(error)")
        }
        vaultKeys = keys
        importMaximumSize = try integer("NEXA_IMPORT_MAX_BYTES", 512 * 1024 * 1024, 1024...(16 * 1024 * 1024 * 1024))
        webhookMaximumBodySize = try integer("NEXA_WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, 1024...(64 * 1024 * 1024))
        paypalCertificateHosts = (value("NEXA_PAYPAL_CERT_HOSTS") ?? PayPalVerifier.certificateHosts.joined(separator: ",")).split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        paypalCABundle = value("NEXA_PAYPAL_CA_BUNDLE") ?? "/etc/ssl/certs/ca-certificates.crt"
        inboxMode = value("NEXA_GATEWAY_INBOX") ?? "durable"
        guard ["durable", "off"].contains(inboxMode) else {
            throw ConfigurationError(variable: "NEXA_GATEWAY_INBOX", value: inboxMode, expected: "durable or off")
        }
        let dispatcher = value("NEXA_GATEWAY_DISPATCHER") ?? "on"
        guard ["on", "off"].contains(dispatcher) else {
            throw ConfigurationError(variable: "NEXA_GATEWAY_DISPATCHER", value: dispatcher, expected: "on or off")
        }
        dispatcherEnabled = dispatcher == "on"
        webhookLease = .seconds(try integer("NEXA_WEBHOOK_LEASE_SECONDS", 60, 4...3600))
        connectionLimits.idleTimeout = .seconds(try integer("NEXA_HTTP_IDLE_TIMEOUT_SECONDS", 60, 1...3600))
        connectionLimits.headTimeout = .seconds(try integer("NEXA_HTTP_HEAD_TIMEOUT_SECONDS", 10, 1...600))
        connectionLimits.bodyTimeout = .seconds(try integer("NEXA_HTTP_BODY_TIMEOUT_SECONDS", 10, 1...600))
        connectionLimits.minimumBodyRate = try integer("NEXA_HTTP_MIN_BODY_RATE", 64 * 1024, 1...(1 << 30))
        connectionLimits.maximumConnections = try integer("NEXA_HTTP_MAX_CONNECTIONS", 2048, 1...1_000_000)
        var targets: [String: String] = [:]
        for (index, service) in ServiceSettings.services.enumerated() where service != "gateway" {
            let name = "NEXA_\(service.uppercased())_RPC_TARGET"
            let port = value("NEXA_\(service.uppercased())_RPC_PORT") ?? "\(7001 + index)"
            targets[service] = value(name) ?? "127.0.0.1:\(port)"
        }
        serviceTargets = targets
    }

    public static let documentation = """
        Gateway:
          NEXA_VAULT_KEYS              token vault keys, id:base64(32 bytes)[,id:…], sealing key first (required)
          NEXA_GATEWAY_HTTP_PORT       public HTTP port: webhooks and OAuth (default 8080)
          NEXA_GATEWAY_HTTP_BIND_HOST  address the public port listens on (default 127.0.0.1; 0.0.0.0 to publish it)
          NEXA_GATEWAY_PUBLIC_URL      how providers and browsers reach it (default http://127.0.0.1:<port>)
          NEXA_WEBHOOK_MAX_BODY_BYTES  largest webhook body (default 1048576)
          NEXA_IMPORT_MAX_BYTES        largest CSV upload (default 536870912)
          NEXA_PAYPAL_CERT_HOSTS       hosts (https) or origins PayPal certificates may come from (default api.paypal.com,api.sandbox.paypal.com)
          NEXA_PAYPAL_CA_BUNDLE        CA bundle PayPal certificates must chain to (default /etc/ssl/certs/ca-certificates.crt)
          NEXA_WEBHOOK_LEASE_SECONDS   how long a delivery holds its event before others may retry it (default 60)
          NEXA_HTTP_IDLE_TIMEOUT_SECONDS  a keep-alive connection without a request is closed after (default 60)
          NEXA_HTTP_HEAD_TIMEOUT_SECONDS  a request's head must arrive within, from its first byte (default 10)
          NEXA_HTTP_BODY_TIMEOUT_SECONDS  a body must arrive within, from its head, plus 1 s per NEXA_HTTP_MIN_BODY_RATE bytes (default 10)
          NEXA_HTTP_MIN_BODY_RATE      bytes per second of body that extend its deadline (default 65536)
          NEXA_HTTP_MAX_CONNECTIONS    open connections; one more is answered 503 and closed (default 2048)
          NEXA_<SERVICE>_RPC_TARGET    host:port of a domain service (default 127.0.0.1:<its RPC port>)
          NEXA_GATEWAY_DISPATCHER      on, or off for an ingest-only replica (default on)
          NEXA_GATEWAY_INBOX           durable, or off for the benchmark baseline only (default durable)
        """
}
