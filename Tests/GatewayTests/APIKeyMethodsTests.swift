import Foundation
import Gateway
import Messages
import NIOCore
import Platform
import Postgres
import RPC
import RPCNIO
import ServiceLifecycle
import TestSupport
import Testing

/// API-key management over the gateway's RPC: scoped to the caller's workspace, and only for keys valid everywhere.
@Suite(.hangGuard) struct APIKeyMethodsTests {
    @Test func anAllServicesKeyManagesItsWorkspacesKeysAndNoOtherKeyMay() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let other = try await TestDatabase.workspace(in: db, name: "Other")
        let (_, admin) = try await APIKeys(db: db).create(workspaceID: workspace, name: "admin", services: ["*"])
        let (foreign, _) = try await APIKeys(db: db).create(workspaceID: other, name: "foreign", services: ["*"])
        let server = RPCServer(service: makeGatewayService(db: db, vault: try TokenVault(specification: TokenVault.generatedSpecification())),
                               configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db), cacheTTL: .zero),
                               logger: TestDatabase.logger)
        let group = ServiceGroup(services: [server], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.waitUntilListening().port!
            let rpc = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", port)]))
            let client = GatewayV1.GatewayService.Client(transport: rpc)

            var create = GatewayV1.CreateApiKeyRequest()
            create.name = "billing-bot"
            create.services = ["billing", "gateway"]
            let created = try await client.createApiKey(create, options: CallOptions(apiKey: admin))
            let key = try #require(created.key)
            #expect(created.secret.hasPrefix("nexa_\(key.id)_") && key.services == ["billing", "gateway"])

            // The new key works for its services, but cannot manage keys.
            do {
                _ = try await client.listApiKeys(GatewayV1.ListApiKeysRequest(), options: CallOptions(apiKey: created.secret))
                Issue.record("a key scoped to two services listed keys")
            } catch let error as RPCError {
                #expect(error.code == .permissionDenied)
            }
            create.services = ["nope"]
            await #expect(throws: RPCError.self) { _ = try await client.createApiKey(create, options: CallOptions(apiKey: admin)) }

            let listed = try await client.listApiKeys(GatewayV1.ListApiKeysRequest(), options: CallOptions(apiKey: admin))
            #expect(Set(listed.keys.map(\.name)) == ["admin", "billing-bot"], "only the caller's workspace")

            var revoke = GatewayV1.RevokeApiKeyRequest()
            revoke.id = foreign.id
            await #expect(throws: RPCError.self) { _ = try await client.revokeApiKey(revoke, options: CallOptions(apiKey: admin)) }
            revoke.id = key.id
            #expect(try await client.revokeApiKey(revoke, options: CallOptions(apiKey: admin)).revoked)
            do {
                _ = try await client.listConnections(GatewayV1.ListConnectionsRequest(), options: CallOptions(apiKey: created.secret))
                Issue.record("a revoked key was accepted")
            } catch let error as RPCError {
                #expect(error.code == .unauthenticated)
            }
            await rpc.close()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
