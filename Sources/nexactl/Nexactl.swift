import ArgumentParser
import Foundation
import Logging
import Platform
import RPCNIO

@main
struct Nexactl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nexactl",
        abstract: "Operate Nexa Integrations: health, calls, migrations, workspaces, API keys, webhooks and connections.",
        subcommands: [Health.self, Call.self, Migrate.self, Workspaces.self, Users.self, Keys.self, Webhooks.self, Connect.self, CRMCommand.self, BillingCommand.self, Accounts.self, ImportCommand.self, ExportCommand.self, SyncCommand.self, EmailCommand.self, CalendarCommand.self, SandboxCommand.self]
    )
}

/// Options shared by commands that talk to the database.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "libpq URL of PostgreSQL (default: $NEXA_DATABASE_URL or the local cluster).")
    var databaseURL: String = ProcessInfo.processInfo.environment["NEXA_DATABASE_URL"] ?? ServiceSettings.defaultDatabaseURL
}

/// Options shared by commands that call services.
struct ServiceOptions: ParsableArguments {
    @Option(help: "Host the services listen on.")
    var host: String = ProcessInfo.processInfo.environment["NEXA_RPC_HOST"] ?? "127.0.0.1"

    @Option(help: "API key (default: $NEXA_API_KEY).")
    var apiKey: String = ProcessInfo.processInfo.environment["NEXA_API_KEY"] ?? ""

    @Option(help: "Deadline in seconds.")
    var timeout: Double = 5

    func port(of service: String) throws -> Int {
        try ServiceSettings(service: service).rpcPort
    }

    /// A client of `service`, over mutual TLS when `NEXA_RPC_TLS_*` say so.
    func client(of service: String, attempts: Int? = nil) throws -> RPCClient {
        let settings = try ServiceSettings(service: service)
        var configuration = ClientConfiguration(targets: [(host, settings.rpcPort)])
        if let attempts { configuration.maximumAttempts = attempts }
        configuration.tls = try settings.rpcTLS()
        return RPCClient(configuration: configuration)
    }
}

extension Logger {
    static let cli: Logger = {
        var logger = Logger(label: "nexactl")
        logger.logLevel = .warning
        return logger
    }()
}

/// Writes to standard error and exits non-zero, for errors a user should read.
func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("nexactl: \(message)\n".utf8))
    exit(code)
}
