import ArgumentParser
import Foundation
import Logging
import Sandbox
import SandboxGoogle
import SandboxMicrosoft
import SandboxS3
import SandboxSMTP
import SandboxStripe
import ServiceLifecycle
import UnixSignals

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-sandbox",
        abstract: "Stand-ins for the provider APIs Nexa Integrations uses, for development, demos and tests.",
        discussion: """
            Each provider is served under its own base URL: http://HOST:PORT/<provider> (Stripe: /stripe, so
            its API is /stripe/v1/...). Every request is journalled (GET /_sandbox/requests) and faults can be
            injected (POST /_sandbox/faults). All keys and secrets are test-only; they are printed at start-up.
            Environment: NEXA_SANDBOX_PORT (default 7300), NEXA_SANDBOX_SEED (default 42),
            NEXA_SANDBOX_GOOGLE_REDIRECT_URIS and NEXA_SANDBOX_MICROSOFT_REDIRECT_URIS (comma-separated,
            registered OAuth redirect URIs).
            """
    )

    @Option(help: "Port (default $NEXA_SANDBOX_PORT or 7300).")
    var port: Int = Int(ProcessInfo.processInfo.environment["NEXA_SANDBOX_PORT"] ?? "") ?? 7300

    @Option(help: "Port of the capturing SMTP server (default $NEXA_SANDBOX_SMTP_PORT or 2525).")
    var smtpPort: Int = Int(ProcessInfo.processInfo.environment["NEXA_SANDBOX_SMTP_PORT"] ?? "") ?? 2525

    @Option(help: "Seed for deterministic ids (default $NEXA_SANDBOX_SEED or 42).")
    var seed: UInt64 = UInt64(ProcessInfo.processInfo.environment["NEXA_SANDBOX_SEED"] ?? "") ?? 42

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "nexa.sandbox")
        var stripe = StripeStandIn.Configuration()
        stripe.seed = seed
        var google = GoogleStandIn.Configuration()
        google.seed = seed
        if let redirects = ProcessInfo.processInfo.environment["NEXA_SANDBOX_GOOGLE_REDIRECT_URIS"] {
            google.redirectURIs = redirects.split(separator: ",").map(String.init)
        }
        var microsoft = MicrosoftStandIn.Configuration()
        if let redirects = ProcessInfo.processInfo.environment["NEXA_SANDBOX_MICROSOFT_REDIRECT_URIS"] {
            microsoft.redirectURIs = redirects.split(separator: ",").map(String.init)
        }
        let mailbox = Mailbox()
        let smtp = SMTPServer(port: smtpPort, mailbox: mailbox, logger: logger)
        let standIns: [any StandIn] = [
            StripeStandIn(configuration: stripe), try GoogleStandIn(configuration: google), try MicrosoftStandIn(configuration: microsoft), S3StandIn(), SMTPStandIn(mailbox: mailbox, port: smtpPort),
        ]
        // Unbuffered (print is block-buffered into a log file): the keys show at once.
        var summary = "nexa-sandbox on http://127.0.0.1:\(port)\n"
        for standIn in standIns { summary += "  \(standIn.name): http://127.0.0.1:\(port)/\(standIn.name) — \(standIn.startupSummary)\n" }
        FileHandle.standardOutput.write(Data(summary.utf8))
        let app = SandboxApp.build(standIns: standIns, port: port, journal: Journal(), faults: Faults(), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: app), .init(service: smtp)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
