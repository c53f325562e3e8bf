import ArgumentParser
import Foundation
import Messages
import RPC
import RPCNIO

/// `nexactl billing deal-closed DEAL`: what the CRM calls when a deal's stage becomes closed_won.
struct BillingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "billing", abstract: "Stripe billing of closed deals.",
                                                    subcommands: [DealClosed.self])

    struct DealClosed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "deal-closed", abstract: "Queue a closed-won deal's Stripe customer and subscription; --wait follows the job.")
        @Argument(help: "Deal id.") var deal: String
        @Flag(help: "Wait until the job is done or failed.") var wait = false
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            var request = BillingV1.DealClosedRequest()
            request.dealID = deal
            var job = try await service.rpc("billing") { try await BillingV1.BillingService.Client(transport: $0).dealClosed(request, options: $1) }
            var lookup = BillingV1.GetBillingJobRequest()
            lookup.jobID = job.id
            let deadline = Date().addingTimeInterval(60)
            while wait, job.status == "pending", Date() < deadline {
                try await Task.sleep(for: .milliseconds(250))
                job = try await service.rpc("billing") { try await BillingV1.BillingService.Client(transport: $0).getBillingJob(lookup, options: $1) }
            }
            print("job \(job.id): \(job.status)" + (job.attempts > 0 ? " after \(job.attempts) attempt(s)" : "")
                  + (job.lastError.isEmpty ? "" : " — \(job.lastError)"))
            if !job.stripeCustomerID.isEmpty { print("customer:     \(job.stripeCustomerID)") }
            if !job.stripeSubscriptionID.isEmpty { print("subscription: \(job.stripeSubscriptionID)") }
            if job.status == "failed" { throw ExitCode(1) }
        }
    }
}

/// `nexactl accounts health ACCOUNT`: the score and every change that made it.
struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "CRM accounts.", subcommands: [Health.self])

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An account's health score and why it is what it is.")
        @Argument(help: "Account id.") var account: String
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            var request = BillingV1.GetAccountHealthRequest()
            request.accountID = account
            let h = try await service.rpc("billing") { try await BillingV1.BillingService.Client(transport: $0).getAccountHealth(request, options: $1) }
            let mrr = Double(h.mrrCents) / 100
            print("\(h.name): health \(h.score)/100, payment \(h.paymentStatus), churn risk \(h.churnRisk)")
            if !h.subscriptionStatus.isEmpty {
                let next = h.nextBillingUnixMs > 0
                    ? ", next billing " + ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(h.nextBillingUnixMs) / 1000)) : ""
                print("subscription \(h.subscriptionStatus), MRR \(String(format: "%.2f", mrr)) \(h.currency.uppercased())\(next)")
            }
            for c in h.changes {
                let at = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(c.atUnixMs) / 1000))
                print("  \(at)  \(c.delta >= 0 ? "+" : "")\(c.delta)  \(c.before) → \(c.after)  \(c.cause)" + (c.eventID.isEmpty ? "" : " (\(c.eventID))"))
            }
        }
    }
}
