import ArgumentParser
import Billing
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-billing",
        abstract: "Nexa Integrations billing service: Stripe billing: deals to subscriptions, payments to account health.",
        discussion: ServiceSettings.documentation(service: "billing")
    )

    func run() async throws {
        try await ServiceMain.run(service: "billing") { makeBillingService(db: $0) }
    }
}
