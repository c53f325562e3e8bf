import Cryptography
import RPC
public import Foundation
public import Postgres

/// API keys: random, shown once, stored only as a SHA-256 hash, scoped to a workspace and to
/// the services they may call, revocable. A key reads `nexa_<id>_<secret>`.
public struct APIKeys: Sendable {
    /// What is stored about a key (never its secret).
    public struct Key: Sendable, Hashable {
        public var id: String
        public var workspaceID: UUID
        public var name: String
        /// Short service names (`billing`, `gateway` …) or `*` for all.
        public var services: [String]
        public var createdAt: Date
        public var revokedAt: Date?
    }

    /// A key as parsed from its text.
    struct Presented {
        var id: String
        var secret: String

        /// `nexa_` + 16 lower-case hex digits of id + `_` + 43 base64url characters of secret, as
        /// `create` makes them; anything else is refused before any lookup. Parsed on bytes (it is
        /// on every call's path).
        init?(_ text: String) {
            let utf8 = text.utf8
            guard utf8.count == 5 + 16 + 1 + 43, utf8.starts(with: "nexa_".utf8) else { return nil }
            let idStart = utf8.index(utf8.startIndex, offsetBy: 5)
            let idEnd = utf8.index(idStart, offsetBy: 16)
            guard utf8[idEnd] == UInt8(ascii: "_"), utf8[idStart..<idEnd].allSatisfy(Self.isLowerHex),
                  utf8[utf8.index(after: idEnd)...].allSatisfy(Digest.isBase64URL) else { return nil }
            id = String(text[idStart..<idEnd])
            secret = String(text[utf8.index(after: idEnd)...])
        }

        private static func isLowerHex(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
        }

    }

    public let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }

    /// The grant that lets a service identity read the OAuth tokens of its domain's providers.
    public static func tokenScope(for service: String) -> String { "tokens:" + service }

    /// Why `services` cannot be granted together, or nil when they can: each is `*`, a service
    /// name, or `tokens:<domain service>`; a key that reads tokens is one service's identity and
    /// holds nothing but that service, `gateway` (to call it) and its own token grant — never `*`.
    public static func problem(granting services: [String]) -> String? {
        guard !services.isEmpty else { return "an API key needs at least one service (or *)" }
        let domains = ServiceSettings.services.filter { $0 != "gateway" }
        for service in services where service != "*" && !ServiceSettings.services.contains(service) {
            guard service.hasPrefix("tokens:"), domains.contains(String(service.dropFirst(7))) else {
                return "\"\(service)\" is not a service (\(ServiceSettings.services.joined(separator: ", ")), *, or tokens:<service>)"
            }
        }
        let grants = services.filter { $0.hasPrefix("tokens:") }
        if !grants.isEmpty {
            let owners = Set(grants.map { String($0.dropFirst(7)) })
            guard owners.count == 1, let owner = owners.first else { return "a key reads the tokens of one service, not of \(owners.sorted().joined(separator: " and "))" }
            if let other = services.first(where: { !$0.hasPrefix("tokens:") && $0 != "gateway" && $0 != owner }) {
                return "a key that reads tokens belongs to one service identity: it may hold \(owner), gateway and tokens:\(owner), not \"\(other)\""
            }
        }
        return nil
    }

    /// Creates a key; the returned text is the only time the secret exists outside the caller.
    public func create(workspaceID: UUID, name: String, services: [String]) async throws -> (key: Key, text: String) {
        if let problem = Self.problem(granting: services) { throw PlatformError(.invalidArgument, problem) }
        let id = Digest.hex(Digest.randomBytes(8))
        let secret = Digest.base64URL(Digest.randomBytes(32))
        let hash = Digest.sha256(Array(secret.utf8))
        let rows = try await db.query("""
            INSERT INTO api_keys (id, workspace_id, name, secret_hash, services)
            SELECT \(id), id, \(name), \(hash), \(PostgresTextArray(services)) FROM workspaces WHERE id = \(workspaceID)
            RETURNING created_at
            """)
        guard let row = rows.first else { throw PlatformError(.notFound, "workspace \(workspaceID) does not exist") }
        let key = Key(id: id, workspaceID: workspaceID, name: name, services: services,
                      createdAt: try row.decode(Date.self, at: 0), revokedAt: nil)
        return (key, "nexa_\(id)_\(secret)")
    }

    /// Keys of one workspace, or of all.
    public func list(workspaceID: UUID? = nil) async throws -> [Key] {
        let rows = try await db.query("""
            SELECT id, workspace_id, name, services, created_at, revoked_at FROM api_keys
            WHERE \(workspaceID)::uuid IS NULL OR workspace_id = \(workspaceID) ORDER BY created_at, id
            """)
        return try rows.map { row in
            Key(id: try row.decode(at: 0), workspaceID: try row.decode(at: 1), name: try row.decode(at: 2),
                services: try row.decode(PostgresTextArray.self, at: 3).values, createdAt: try row.decode(at: 4),
                revokedAt: try row.decodeIfPresent(Date.self, at: 5))
        }
    }

    /// Revokes a key; returns false if there is no such live key.
    @discardableResult
    public func revoke(id: String) async throws -> Bool {
        try await db.execute("UPDATE api_keys SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL") == 1
    }

    /// The stored record and secret hash of a key id, live or not.
    func lookup(id: String) async throws -> (key: Key, secretHash: [UInt8])? {
        let rows = try await db.query("""
            SELECT id, workspace_id, name, services, created_at, revoked_at, secret_hash FROM api_keys WHERE id = \(id)
            """)
        guard let row = rows.first else { return nil }
        let key = Key(id: try row.decode(at: 0), workspaceID: try row.decode(at: 1), name: try row.decode(at: 2),
                      services: try row.decode(PostgresTextArray.self, at: 3).values, createdAt: try row.decode(at: 4),
                      revokedAt: try row.decodeIfPresent(Date.self, at: 5))
        return (key, try row.decode([UInt8].self, at: 6))
    }
}
