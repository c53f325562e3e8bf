import BlobStorage
import CurlHTTP
import DataTransfer
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Messages
import Platform
import Postgres
import RPC
import RPCNIO
import ServiceLifecycle
import TestSupport

/// The data transfer service over real RPC, and in front of it the gateway's import and export
/// routes over real HTTP on loopback, both with `blobs`.
enum ImportGateway {
    /// Runs `body` with the gateway's base URL and the service's jobs (run them with `processDue`);
    /// stops both afterwards. With `mail`, import summaries and export links are sent there.
    static func with(db: PostgresClient, blobs: any BlobStore, maximumUploadSize: Int, mail: MailServer? = nil,
                     _ body: @escaping @Sendable (_ base: String, _ jobs: ImportJobs) async throws -> Void) async throws {
        let mailer = mail.map { Mailer(http: HTTPClient(), server: $0) }
        let jobs = ImportJobs(db: db, blobs: blobs, logger: TestDatabase.logger, notifier: mailer)
        let server = RPCServer(
            service: DataTransferV1.DataTransferService.Server(handler: DataTransferHandler(jobs: jobs, exporter: ContactExporter(db: db, blobs: blobs))),
            configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), logger: TestDatabase.logger)
        let group = ServiceGroup(services: [server], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.waitUntilListening().port!
            let rpc = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", port)]))
            let vault = try TokenVault(specification: TokenVault.generatedSpecification())
            let routes = ImportRoutes(blobs: blobs, dataTransfer: rpc, authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)),
                                      maximumUploadSize: maximumUploadSize, links: DownloadLinks(vault: vault, publicURL: "https://gw.test"),
                                      mailer: mailer)
            let ingress = WebhookIngress(endpoints: WebhookEndpoints(db: db, vault: vault), sink: .discard, verifiers: [:], logger: TestDatabase.logger)
            let app = GatewayHTTP.make(host: "127.0.0.1", port: 0, ingress: ingress, imports: routes, maximumBodySize: 1024, logger: TestDatabase.logger)
            try await app.test(.live) { client in
                try await body("http://127.0.0.1:\(client.port!)", jobs)
            }
            await rpc.close()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
