import ArgumentParser
import Marketing
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-marketing",
        abstract: "Nexa Integrations marketing service: Mailchimp/SendGrid audiences and campaign engagement.",
        discussion: ServiceSettings.documentation(service: "marketing")
    )

    func run() async throws {
        try await ServiceMain.run(service: "marketing") { makeMarketingService(db: $0) }
    }
}
