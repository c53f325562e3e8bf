import Foundation
import Platform
import Postgres
import RPC
import TestSupport
import Testing

@Suite(.hangGuard) struct APIKeysTests {
    let billing = ServiceDescriptor(name: "nexa.billing.v1.BillingService", methods: [])
    let support = ServiceDescriptor(name: "nexa.support.v1.SupportService", methods: [])
    let echo = MethodDescriptor(index: 2, name: "Echo", inputType: "a", outputType: "b")

    @Test func keysAreShownOnceAndStoredOnlyAsAHash() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (key, text) = try await APIKeys(db: db).create(workspaceID: workspace, name: "ci", services: ["billing"])
        #expect(text.hasPrefix("nexa_\(key.id)_"))
        let secret = String(text.split(separator: "_", maxSplits: 2)[2])
        let stored = try await db.query("SELECT secret_hash::text, name, services::text FROM api_keys").map { try $0.decode((String, String, String).self) }
        #expect(stored.count == 1)
        #expect(!stored[0].0.contains(secret) && !stored[0].1.contains(secret) && !stored[0].2.contains(secret))
        let listed = try await APIKeys(db: db).list(workspaceID: workspace)
        #expect(listed.map(\.id) == [key.id] && listed[0].services == ["billing"])
    }

    @Test func unknownWorkspaceIsRejected() async throws {
        let db = try await TestDatabase.migrated().client
        await #expect(throws: PlatformError.self) {
            try await APIKeys(db: db).create(workspaceID: UUID(), name: "x", services: ["*"])
        }
    }

    @Test func authenticatorChecksKeyScopeWorkspaceAndRevocation() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let keys = APIKeys(db: db)
        let (key, text) = try await keys.create(workspaceID: workspace, name: "billing only", services: ["billing"])
        let auth = APIKeyAuthenticator(keys: keys, cacheTTL: .zero)

        let principal = try await auth.authenticate(CallMetadata(apiKey: text), service: billing, method: echo)
        #expect(principal == Principal(keyID: key.id, workspaceID: workspace.uuidString.lowercased(), scopes: ["billing"]))

        await expect(.permissionDenied) { try await auth.authenticate(CallMetadata(apiKey: text), service: support, method: echo) }
        await expect(.permissionDenied) {
            try await auth.authenticate(CallMetadata(workspaceID: UUID().uuidString, apiKey: text), service: billing, method: echo)
        }
        await expect(.unauthenticated) { try await auth.authenticate(CallMetadata(), service: billing, method: echo) }
        await expect(.unauthenticated) { try await auth.authenticate(CallMetadata(apiKey: "garbage"), service: billing, method: echo) }
        await expect(.unauthenticated) {
            try await auth.authenticate(CallMetadata(apiKey: text.dropLast() + "x"), service: billing, method: echo)
        }
        await expect(.unauthenticated) {
            try await auth.authenticate(CallMetadata(apiKey: "nexa_ffffffffffffffff_nosuchkey"), service: billing, method: echo)
        }

        #expect(try await keys.revoke(id: key.id))
        #expect(try await keys.revoke(id: key.id) == false)
        await expect(.unauthenticated) { try await auth.authenticate(CallMetadata(apiKey: text), service: billing, method: echo) }
    }

    @Test func tokenGrantsBelongToOneServiceIdentity() async throws {
        #expect(APIKeys.problem(granting: ["gateway", "tokens:email_calendar"]) == nil)
        #expect(APIKeys.problem(granting: ["billing", "support"]) == nil)
        #expect(APIKeys.problem(granting: ["*"]) == nil)
        #expect(APIKeys.problem(granting: [])?.contains("at least one") == true)
        #expect(APIKeys.problem(granting: ["billing", "gateway", "tokens:billing"]) == nil)  // billing's own identity
        #expect(APIKeys.problem(granting: ["support", "tokens:billing"])?.contains("\"support\"") == true)
        #expect(APIKeys.problem(granting: ["tokens:billing", "tokens:support"]) != nil)
        #expect(APIKeys.problem(granting: ["*", "tokens:support"]) != nil)
        #expect(APIKeys.problem(granting: ["tokens:gateway"])?.contains("is not a service") == true)
        #expect(APIKeys.problem(granting: ["mail"])?.contains("is not a service") == true)
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        await #expect(throws: PlatformError.self) {
            _ = try await APIKeys(db: db).create(workspaceID: workspace, name: "too much", services: ["*", "tokens:marketing"])
        }
        #expect(try await APIKeys(db: db).list(workspaceID: workspace).isEmpty)
    }

    @Test func wildcardKeysCallEveryService() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (_, text) = try await APIKeys(db: db).create(workspaceID: workspace, name: "all", services: ["*"])
        let auth = APIKeyAuthenticator(keys: APIKeys(db: db))
        for service in [billing, support] {
            #expect(try await auth.authenticate(CallMetadata(apiKey: text), service: service, method: echo).workspaceID
                == workspace.uuidString.lowercased())
        }
    }

    func expect(_ code: StatusCode, _ body: () async throws -> Principal, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await body()
            Issue.record("expected \(code), but the call was allowed", sourceLocation: sourceLocation)
        } catch let error as RPCError {
            #expect(error.code == code, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }
}
