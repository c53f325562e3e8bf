import Messages
import RPC
import RPCNIO

/// Maps a service's short name to its generated client, for commands that call by name.
enum ServiceDirectory {
    static func callJSON(
        service: String, method: String, json: [UInt8], transport: RPCClient, options: CallOptions
    ) async throws -> [UInt8] {
        switch service {
        case "gateway": try await GatewayV1.GatewayService.Client(transport: transport).callJSON(method, json: json, options: options)
        case "email_calendar": try await EmailCalendarV1.EmailCalendarService.Client(transport: transport).callJSON(method, json: json, options: options)
        case "billing": try await BillingV1.BillingService.Client(transport: transport).callJSON(method, json: json, options: options)
        case "marketing": try await MarketingV1.MarketingService.Client(transport: transport).callJSON(method, json: json, options: options)
        case "support": try await SupportV1.SupportService.Client(transport: transport).callJSON(method, json: json, options: options)
        case "data_transfer": try await DataTransferV1.DataTransferService.Client(transport: transport).callJSON(method, json: json, options: options)
        default: throw RPCError(.notFound, "no service named \(service)")
        }
    }
}
