import Foundation
import Gateway
import Messages
import NIOCore
import Platform
import Postgres
import RPC
import RPCNIO
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// `IntroduceService`: a service serving a user's call gets its identity key from the gateway —
/// delivered to the service, never to the caller — and only for keys that may call that service.
@Suite(.hangGuard) struct IntroduceServiceTests {
    @Test func theGatewayPresentsTheServicesIdentityKeyToTheServiceForKeysThatMayCallIt() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let vault = try TokenVault(specification: TokenVault.generatedSpecification())
        let (_, user) = try await APIKeys(db: db).create(workspaceID: workspace, name: "ana", services: ["*"])
        let (_, billingOnly) = try await APIKeys(db: db).create(workspaceID: workspace, name: "billing", services: ["billing", "gateway"])
        let delivered = Mutex<[(service: String, type: String, key: String?, workspace: String?)]>([])
        let credentials = ServiceCredentials(db: db, vault: vault)
        let introducer = ServiceIntroducer(credentials: credentials) { service, event, options in
            delivered.withLock { $0.append((service, event.eventType, options.apiKey, options.workspaceID)) }
        }
        let withIntroducer = RPCServer(service: makeGatewayService(db: db, vault: vault, introducer: introducer),
                                       configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)),
                                       logger: TestDatabase.logger)
        let without = RPCServer(service: makeGatewayService(db: db, vault: vault),
                                configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)),
                                logger: TestDatabase.logger)
        let group = ServiceGroup(services: [withIntroducer, without], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            func client(_ server: RPCServer) async throws -> GatewayV1.GatewayService.Client<RPCClient> {
                let port = try await server.waitUntilListening().port!
                return GatewayV1.GatewayService.Client(transport: RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", port)])))
            }
            let gateway = try await client(withIntroducer)
            func code(_ service: String, key: String, on client: GatewayV1.GatewayService.Client<RPCClient>) async -> StatusCode? {
                var request = GatewayV1.IntroduceServiceRequest()
                request.service = service
                do { _ = try await client.introduceService(request, options: CallOptions(apiKey: key)); return .ok } catch let e as RPCError { return e.code } catch { return nil }
            }

            #expect(await code("email_calendar", key: user, on: gateway) == .ok)
            let identity = try await credentials.apiKey(for: workspace, service: "email_calendar")
            let calls = delivered.withLock { $0 }
            #expect(calls.count == 1 && calls.first?.service == "email_calendar" && calls.first?.type == "service.identity")
            #expect(calls.first?.key == identity && calls.first?.workspace == workspace.uuidString.lowercased())

            #expect(await code("email_calendar", key: billingOnly, on: gateway) == .permissionDenied)
            #expect(await code("data_transfer", key: user, on: gateway) == .invalidArgument)  // no connections to read
            #expect(await code("email_calendar", key: user, on: try await client(without)) == .unavailable)
            #expect(delivered.withLock { $0.count } == 1)
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
        }
    }
}
