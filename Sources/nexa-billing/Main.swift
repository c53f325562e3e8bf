import ArgumentParser
import Billing
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-billing",
        abstract: "Nexa Integrations billing service: deals to Stripe subscriptions, payments to account health.",
        discussion: ServiceSettings.documentation(service: "billing") + """

              NEXA_STRIPE_SECRET_KEY       Stripe secret key (sk_…); deal billing waits until it is set
              NEXA_STRIPE_API_VERSION      pinned Stripe-Version (default 2026-10-28.endive)
            """
    )

    func run() async throws {
        try await ServiceMain.run(service: "billing") { db, settings, logger in
            BillingComponents.make(db: db, service: settings, logger: logger)
        }
    }
}
