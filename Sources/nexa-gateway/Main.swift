import ArgumentParser
import Gateway
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-gateway",
        abstract: "Nexa Integrations gateway service: OAuth connections, token vault and webhook ingress (issue: gateway).",
        discussion: ServiceSettings.documentation(service: "gateway")
    )

    func run() async throws {
        try await ServiceMain.run(service: "gateway") { makeGatewayService(db: $0) }
    }
}
