import ArgumentParser
import Foundation
import Logging
import Platform
import Postgres

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations (safe to run concurrently).")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
        let applied = try await Migrator(logger: .cli).migrate(db)
        print(applied.isEmpty ? "database is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Workspaces: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage workspaces.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a workspace and print its id.")
        @Argument var name: String
        @Option(help: "Use this id instead of a random one.") var id: String?
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            guard let uuid = id.map({ UUID(uuidString: $0) }) ?? UUID() else { fail("--id is not a UUID", code: 2) }
            try await db.execute("INSERT INTO workspaces (id, name) VALUES (\(uuid), \(name)) ON CONFLICT (id) DO NOTHING")
            print(uuid.uuidString.lowercased())
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List workspaces.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            for row in try await db.query("SELECT id, name FROM workspaces ORDER BY created_at") {
                let (id, name) = try row.decode((UUID, String).self)
                print("\(id.uuidString.lowercased())  \(name)")
            }
        }
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage a workspace's users.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user (or find the one with this email) and print its id.")
        @Option(help: "Workspace id.") var workspace: String
        @Option(help: "Email address.") var email: String
        @Option(help: "Display name.") var name: String = ""
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            guard let workspaceID = UUID(uuidString: workspace) else { fail("--workspace is not a UUID", code: 2) }
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            let rows = try await db.query("""
                WITH inserted AS (
                  INSERT INTO users (id, workspace_id, email, name) VALUES (\(UUID()), \(workspaceID), \(email), \(name))
                  ON CONFLICT (workspace_id, email) DO NOTHING RETURNING id)
                SELECT id FROM inserted UNION ALL SELECT id FROM users WHERE workspace_id = \(workspaceID) AND email = \(email)
                """)
            guard let id = try rows.first?.decode(UUID.self, at: 0) else { fail("workspace \(workspaceID) does not exist") }
            print(id.uuidString.lowercased())
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key; it is printed once and never stored.")
        @Option(help: "Workspace id.") var workspace: String
        @Option(help: "A label for the key.") var name: String = "cli"
        @Option(help: "Services it may call, comma-separated, or * for all.") var services: String = "*"
        @Flag(help: "Print only the key.") var quiet = false
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            guard let workspaceID = UUID(uuidString: workspace) else { fail("--workspace is not a UUID", code: 2) }
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            do {
                let (key, text) = try await APIKeys(db: db).create(
                    workspaceID: workspaceID, name: name, services: services.split(separator: ",").map(String.init))
                if quiet {
                    print(text)
                } else {
                    print("id:       \(key.id)\nservices: \(key.services.joined(separator: ","))\nkey:      \(text)\n(store it now: it is not shown again)")
                }
            } catch let error as PlatformError {
                fail(error.message)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (never their secrets).")
        @Option(help: "Only this workspace.") var workspace: String?
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            let keys = try await APIKeys(db: db).list(workspaceID: workspace.flatMap(UUID.init(uuidString:)))
            print("ID                WORKSPACE                             NAME          SERVICES          STATE")
            for key in keys {
                print(
                    key.id.padding(toLength: 18, withPad: " ", startingAt: 0)
                        + key.workspaceID.uuidString.lowercased().padding(toLength: 38, withPad: " ", startingAt: 0)
                        + key.name.padding(toLength: 14, withPad: " ", startingAt: 0)
                        + key.services.joined(separator: ",").padding(toLength: 18, withPad: " ", startingAt: 0)
                        + (key.revokedAt == nil ? "active" : "revoked")
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key by id.")
        @Argument var id: String
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            guard try await APIKeys(db: db).revoke(id: id) else { fail("no active key with id \(id)") }
            print("revoked \(id)")
        }
    }
}
