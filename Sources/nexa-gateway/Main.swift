import ArgumentParser
import Gateway
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-gateway",
        abstract: "Nexa Integrations gateway service: OAuth connections, token vault and webhook ingress.",
        discussion: ServiceSettings.documentation(service: "gateway") + "\n" + GatewaySettings.documentation
    )

    func run() async throws {
        try await ServiceMain.run(service: "gateway") { db, settings, logger in
            try GatewayComponents.make(db: db, service: settings, gateway: try GatewaySettings(), logger: logger)
        }
    }
}
