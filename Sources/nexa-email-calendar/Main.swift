import ArgumentParser
import EmailCalendar
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-email-calendar",
        abstract: "Nexa Integrations email_calendar service: Gmail/Outlook mail and calendar sync.",
        discussion: ServiceSettings.documentation(service: "email_calendar")
    )

    func run() async throws {
        try await ServiceMain.run(service: "email_calendar") { db, settings, logger in
            try EmailCalendarComponents.make(db: db, service: settings, logger: logger)
        }
    }
}
