import ArgumentParser
import Foundation
import Gateway
import Messages
import Postgres
import RPC
import RPCNIO

/// `nexactl webhooks …`: the inbox (operators, straight from the database) and endpoints (over RPC).
struct Webhooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and replay received webhooks; register webhook endpoints.",
        subcommands: [List.self, Show.self, Replay.self, CreateEndpoint.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Inbox events, newest first.")
        @Option(help: "Only this workspace.") var workspace: String?
        @Option(help: "pending, delivered or dead.") var status: String?
        @Option(help: "At most this many.") var limit = 50
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            let entries = try await WebhookInbox.list(db: db, workspaceID: try workspace.map(parseWorkspace), status: status, limit: limit)
            print("ID        PROVIDER         STATUS     ATTEMPTS  RECEIVED                  TYPE / EVENT ID")
            for e in entries {
                print("\(e.id)".padding(toLength: 10, withPad: " ", startingAt: 0) + e.provider.padding(toLength: 17, withPad: " ", startingAt: 0)
                      + e.status.padding(toLength: 11, withPad: " ", startingAt: 0) + "\(e.attempts)".padding(toLength: 10, withPad: " ", startingAt: 0)
                      + ISO8601DateFormatter().string(from: e.receivedAt).padding(toLength: 26, withPad: " ", startingAt: 0)
                      + "\(e.eventType) \(e.eventID)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One event with its headers and body.")
        @Argument(help: "Inbox id.") var id: Int64
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            guard let e = try await WebhookInbox.show(db: db, id: id, workspaceID: nil) else { fail("no inbox event \(id)") }
            print("""
                id:          \(e.id)
                workspace:   \(e.workspaceID.uuidString.lowercased())
                provider:    \(e.provider) (endpoint \(e.endpointID))
                event:       \(e.eventType) \(e.eventID)
                status:      \(e.status), \(e.attempts) attempt(s)\(e.lastError.map { ", last error: \($0)" } ?? "")
                received:    \(ISO8601DateFormatter().string(from: e.receivedAt))\(e.deliveredAt.map { "\ndelivered:   " + ISO8601DateFormatter().string(from: $0) } ?? "")
                headers:     \(e.headers)
                body:
                \(String(decoding: e.body, as: UTF8.self))
                """)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver events again: one (by id), every dead one, or those received in a time range.",
            discussion: "Effects are recorded in the effect ledger, so replaying an applied event changes nothing.")
        @Argument(help: "Inbox id.") var id: Int64?
        @Flag(help: "Every dead-lettered event.") var dead = false
        @Option(help: "Received at or after (ISO 8601).") var from: String?
        @Option(help: "Received before (ISO 8601; default now).") var to: String?
        @Option(help: "Only this workspace.") var workspace: String?
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let which: WebhookInbox.Replay
            if let id {
                which = .one(id)
            } else if dead {
                which = .allDead
            } else if let from {
                guard let start = ISO8601DateFormatter().date(from: from) else { fail("--from is not an ISO 8601 time", code: 2) }
                let end = try to.map { text in
                    guard let date = ISO8601DateFormatter().date(from: text) else { throw ValidationError("--to is not an ISO 8601 time") }
                    return date
                } ?? Date()
                which = .receivedBetween(start, end)
            } else {
                throw ValidationError("name an event id, --dead, or --from [--to]")
            }
            let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
            let count = try await WebhookInbox.replay(which, db: db, workspaceID: try workspace.map(parseWorkspace))
            print("replaying \(count) event(s)")
        }
    }

    struct CreateEndpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-endpoint", abstract: "Register a webhook endpoint for the key's workspace; prints its path and secret.")
        @Option(help: "stripe, google_pubsub, google_calendar, microsoft_graph, mailchimp, sendgrid, zendesk, intercom or paypal.")
        var provider: String
        @Option(help: "The provider's signing secret (Stripe, Zendesk, Intercom); omit to have one generated.") var secret: String?
        @Option(help: "key=value (audience, service_account, public_key, webhook_id); repeatable.") var config: [String] = []
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            var request = GatewayV1.CreateWebhookEndpointRequest()
            request.provider = provider
            request.secret = secret ?? ""
            request.config = try config.map { item in
                guard let eq = item.firstIndex(of: "=") else { throw ValidationError("--config takes key=value, not \(item)") }
                var entry = GatewayV1.ConfigEntry()
                entry.key = String(item[..<eq])
                entry.value = String(item[item.index(after: eq)...])
                return entry
            }
            let response = try await service.rpc("gateway") { try await GatewayV1.GatewayService.Client(transport: $0).createWebhookEndpoint(request, options: $1) }
            print("endpoint: \(response.endpointID)\npath:     \(response.path)")
            if !response.secret.isEmpty { print("secret:   \(response.secret)\n(store it now: it is not shown again)") }
        }
    }
}

/// `nexactl connect google --user ana@example.com`: prints a short-lived link that starts the OAuth flow.
struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a link that connects a user's provider account (valid 15 minutes).")
    @Argument(help: "google or microsoft.") var provider: String
    @Option(help: "The user's id or email.") var user: String
    @OptionGroup var service: ServiceOptions

    func run() async throws {
        var request = GatewayV1.CreateConnectLinkRequest()
        request.provider = provider
        request.userID = user
        let response = try await service.rpc("gateway") { try await GatewayV1.GatewayService.Client(transport: $0).createConnectLink(request, options: $1) }
        print(response.url)
    }
}

func parseWorkspace(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("--workspace is not a UUID") }
    return id
}

extension ServiceOptions {
    /// Calls `service` with this command's key and deadline; RPC errors end the command with their message.
    func rpc<R: Sendable>(_ service: String, _ call: (RPCClient, CallOptions) async throws -> R) async throws -> R {
        let client = try client(of: service)
        defer { Task { await client.close() } }
        do {
            return try await call(client, CallOptions(timeout: .milliseconds(Int64(timeout * 1000)), apiKey: apiKey.isEmpty ? nil : apiKey))
        } catch let error as RPCError {
            fail("\(error.code): \(error.message)")
        }
    }
}
