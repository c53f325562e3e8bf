import ArgumentParser
import DataTransfer
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-data-transfer",
        abstract: "Nexa Integrations data_transfer service: CSV import and export.",
        discussion: ServiceSettings.documentation(service: "data_transfer")
    )

    func run() async throws {
        try await ServiceMain.run(service: "data_transfer") { makeDataTransferService(db: $0) }
    }
}
