import ArgumentParser
import DataTransfer
import Platform

@main
struct Main: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexa-data-transfer",
        abstract: "Nexa Integrations data transfer service: CSV import (export to come).",
        discussion: ServiceSettings.documentation(service: "data_transfer") + """

              NEXA_BLOB_DIR                where uploads and exports are stored (default .data/blobs)
            """
    )

    func run() async throws {
        try await ServiceMain.run(service: "data_transfer") { db, settings, logger in try DataTransferComponents.make(db: db, service: settings, logger: logger) }
    }
}
