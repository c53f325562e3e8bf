import Billing
import DataTransfer
import EmailCalendar
import Foundation
import Gateway
import Logging
import Marketing
import Messages
import NIOCore
import Platform
import Postgres
import RPC
import RPCNIO
import ServiceLifecycle
import Support
import TestSupport
import Testing

/// All six services, each on its own port with the real API-key authenticator and PostgreSQL.
@Suite(.hangGuard) struct ServicesTests {
    @Test func allSixServicesReportHealthyAnswerReflectionAndCheckKeys() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (_, allKey) = try await APIKeys(db: db).create(workspaceID: workspace, name: "all", services: ["*"])
        let (_, billingKey) = try await APIKeys(db: db).create(workspaceID: workspace, name: "billing", services: ["billing"])
        let services: [any ServerService] = [
            makeGatewayService(db: db, vault: try TokenVault(specification: TokenVault.generatedSpecification())), makeEmailCalendarService(db: db, gateway: RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", 1)]))), makeBillingService(db: db),
            makeMarketingService(db: db), makeSupportService(db: db), makeDataTransferService(db: db),
        ]
        let servers = services.map {
            RPCServer(service: $0, configuration: ServerConfiguration(port: 0),
                      authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), logger: TestDatabase.logger)
        }
        let group = ServiceGroup(services: servers, logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for (service, server) in zip(services, servers) {
                let port = try await server.waitUntilListening().port!
                let client = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", port)]))
                let name = service.descriptor.name

                let health: RPCV1.HealthCheckResponse = try await ClientCall.run(
                    RPCV1.HealthCheckRequest(), method: service.descriptor.methods[0], transport: client, options: CallOptions())
                #expect(health.status == .serving, "\(name)")

                var other = RPCV1.HealthCheckRequest()
                other.service = "nexa.nope.v1.NopeService"
                let unknown: RPCV1.HealthCheckResponse = try await ClientCall.run(
                    other, method: service.descriptor.methods[0], transport: client, options: CallOptions())
                #expect(unknown.status == .serviceUnknown)

                let reflection: RPCV1.ListMethodsResponse = try await ClientCall.run(
                    RPCV1.ListMethodsRequest(), method: service.descriptor.methods[1], transport: client,
                    options: CallOptions(apiKey: allKey))
                #expect(reflection.service == name)
                #expect(reflection.methods.map(\.name) == service.descriptor.methods.map(\.name))
                #expect(reflection.methods.map(\.index) == Array(0..<UInt32(service.descriptor.methods.count)))

                var echo = RPCV1.EchoRequest()
                echo.text = name
                echo.n = 1
                let reply: RPCV1.EchoResponse = try await ClientCall.run(
                    echo, method: service.descriptor.methods[2], transport: client, options: CallOptions(apiKey: allKey))
                #expect(reply.text == name && reply.n == 2)

                do {
                    let _: RPCV1.EchoResponse = try await ClientCall.run(
                        echo, method: service.descriptor.methods[2], transport: client, options: CallOptions(apiKey: billingKey))
                    #expect(service.descriptor.shortName == "billing", "a billing-only key called \(name)")
                } catch let error as RPCError {
                    #expect(error.code == .permissionDenied && service.descriptor.shortName != "billing")
                }
                await client.close()
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
