import ArgumentParser
import Support
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-support",
        abstract: "Nexa Integrations support service: Zendesk/Intercom tickets and support volume.",
        discussion: ServiceSettings.documentation(service: "support")
    )

    func run() async throws {
        try await ServiceMain.run(service: "support") { makeSupportService(db: $0) }
    }
}
