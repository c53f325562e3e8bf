import BlobStorage
import Foundation
public import CurlHTTP
public import Logging
public import Messages
public import Platform
import ServiceLifecycle
public import Postgres
public import RPC
import RPCNIO

/// Everything the gateway runs: the RPC service, the inbox writers and dispatcher, and the public HTTP server.
public enum GatewayComponents {
    public static func make(
        db: PostgresClient, service: ServiceSettings, gateway: GatewaySettings, logger: Logger
    ) throws -> ServiceMain.Components {
        let vault = try TokenVault(specification: gateway.vaultKeys)
        let http = HTTPClient()
        let blobs = try BlobStores.fromEnvironment()
        let endpoints = WebhookEndpoints(db: db, vault: vault)
        // The inbox's writers each hold a connection; the rest of the gateway needs at least one more.
        guard service.databasePoolSize >= 2 else {
            throw ConfigurationError(variable: "NEXA_DB_POOL_SIZE", value: "\(service.databasePoolSize)", expected: "at least 2 for the gateway")
        }
        let inbox = WebhookInbox(db: db)
        let ingress = WebhookIngress(
            endpoints: endpoints, sink: gateway.inboxMode == "off" ? .discard : .inbox(inbox),
            verifiers: verifiers(http: http, service: service, gateway: gateway), logger: logger)

        let providers = OAuthProvider.configured(endpoints: service.providers)
        let tokens = TokenEndpoint(http: http)
        let connections = Connections(db: db, vault: vault, tokens: tokens, providers: providers, logger: logger)
        let flow = OAuthFlow(providers: providers, db: db, vault: vault, tokens: tokens, connections: connections, publicURL: gateway.publicURL)
        let links = ConnectLinks(vault: vault, publicURL: gateway.publicURL)
        // One key check (one cache, one miss budget per address) for every Bearer route.
        let bearer = APIKeyAuthenticator(keys: APIKeys(db: db))
        let oauth = OAuthRoutes(flow: flow, links: links, authenticator: bearer)

        var clients: [String: RPCClient] = [:]
        for (name, target) in gateway.serviceTargets {
            var configuration = try ClientConfiguration(parsing: target)
            configuration.maximumAttempts = 1
            configuration.tls = try service.rpcTLS()
            clients[name] = RPCClient(configuration: configuration)
        }
        var dispatch = WebhookDispatcher.Configuration()
        dispatch.lease = gateway.webhookLease
        dispatch.callTimeout = gateway.webhookLease / 2
        let credentials = ServiceCredentials(db: db, vault: vault)
        let transport = WebhookDispatcher.rpcTransport(clients)
        let dispatcher = WebhookDispatcher(
            db: db, credentials: credentials, configuration: dispatch,
            extraRoutes: providers.mapValues(\.owningService).merging([CRMChangeRelay.provider: "email_calendar"]) { current, _ in current },
            logger: logger, transport: transport)
        let server = GatewayHTTP.make(
            host: gateway.httpBindHost, port: gateway.httpPort, ingress: ingress, oauth: oauth,
            imports: clients["data_transfer"].map {
                ImportRoutes(blobs: blobs, dataTransfer: $0, authenticator: bearer,
                             maximumUploadSize: gateway.importMaximumSize, links: DownloadLinks(vault: vault, publicURL: gateway.publicURL),
                             mailer: .init(http: http, server: MailServer(url: service.providers.smtp)))
            },
            maximumBodySize: gateway.webhookMaximumBodySize, limits: gateway.connectionLimits, logger: logger)
        var background: [any Service] = [BackgroundService(name: "webhook-inbox") { await inbox.run() }]
        if gateway.dispatcherEnabled {
            background.append(BackgroundService(name: "webhook-dispatcher") { await dispatcher.run() })
            let relay = CRMChangeRelay(db: db, logger: logger)
            background.append(BackgroundService(name: "crm-change-relay") { await relay.run() })
        }
        // Providers expire grants that sit unused: refresh every connection at least daily.
        background.append(BackgroundService(name: "token-refresher") {
            while !Task.isCancelled {
                await connections.refreshIdle()
                // Scheduled work of the services that own Google connections (mailbox watch renewal, catch-up).
                do { try await connections.enqueueTicks(provider: "google") } catch {
                    logger.warning("cannot queue sync ticks", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(3600))
            }
        })
        let handler = GatewayHandler(db: db, endpoints: endpoints, connections: connections, links: links, providers: providers,
                                     introducer: ServiceIntroducer(credentials: credentials, transport: transport), logger: logger)
        return ServiceMain.Components(
            rpc: GatewayV1.GatewayService.Server(handler: handler),
            background: background,
            frontends: [server])
    }

    /// One verifier per provider, with the provider URLs from the settings.
    public static func verifiers(http: HTTPClient, service: ServiceSettings, gateway: GatewaySettings) -> [WebhookProvider: any WebhookVerifier] {
        [
            .stripe: StripeVerifier(),
            .googlePubSub: GooglePubSubVerifier(http: http, jwksURL: service.providers.googleAPIs + "/oauth2/v3/certs"),
            .googleCalendar: GoogleCalendarVerifier(),
            .microsoftGraph: MicrosoftGraphVerifier(),
            .mailchimp: MailchimpVerifier(),
            .sendgrid: SendGridVerifier(),
            .zendesk: ZendeskVerifier(),
            .intercom: IntercomVerifier(),
            .paypal: PayPalVerifier(http: http, allowedCertificateOrigins: gateway.paypalCertificateHosts,
                                    trustedCertificatesPEM: FileManager.default.contents(atPath: gateway.paypalCABundle).map { Array($0) }),
        ]
    }
}

/// The gateway as a bare RPC service (tests of its methods).
public func makeGatewayService(
    db: PostgresClient, vault: TokenVault, providers: [String: OAuthProvider] = [:], publicURL: String = "http://127.0.0.1:8080",
    introducer: ServiceIntroducer? = nil
) -> some ServerService {
    let connections = Connections(db: db, vault: vault, tokens: TokenEndpoint(http: HTTPClient()), providers: providers,
                                  logger: Logger(label: "nexa.gateway"))
    return GatewayV1.GatewayService.Server(handler: GatewayHandler(
        db: db, endpoints: WebhookEndpoints(db: db, vault: vault), connections: connections,
        links: ConnectLinks(vault: vault, publicURL: publicURL), providers: providers, introducer: introducer))
}
