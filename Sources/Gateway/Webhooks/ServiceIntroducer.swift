public import Foundation
public import Messages
public import RPC

/// Presents a domain service its identity key for a workspace, when that service serves a user's
/// call and needs to read its connections' tokens (`IntroduceService`). The key travels only from
/// the gateway to the service's configured address, as the key of a `HandleWebhook` call (provider
/// `nexa`, event `service.identity`) — the same way every inbox event reaches it.
public struct ServiceIntroducer: Sendable {
    let credentials: ServiceCredentials
    let transport: WebhookDispatcher.Transport

    public init(credentials: ServiceCredentials, transport: @escaping WebhookDispatcher.Transport) {
        self.credentials = credentials
        self.transport = transport
    }

    public func introduce(service: String, workspace: UUID, timeout: Duration?) async throws {
        var event = GatewayV1.WebhookEvent()
        event.provider = "nexa"
        event.eventType = "service.identity"
        event.eventID = UUID().uuidString.lowercased()
        event.receivedAtUnixMs = Int64(Date().timeIntervalSince1970 * 1000)
        event.body = Array("{}".utf8)
        let key = try await credentials.apiKey(for: workspace, service: service)
        try await transport(service, event, CallOptions(timeout: timeout ?? .seconds(10), apiKey: key,
                                                         workspaceID: workspace.uuidString.lowercased(), retryIfWritten: true))
    }
}
