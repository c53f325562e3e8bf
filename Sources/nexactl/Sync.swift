import ArgumentParser
import Foundation
import Messages
import RPC
import RPCNIO

/// `nexactl sync status`: where each mailbox of the key's workspace stands.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sync", abstract: "Mailbox and calendar sync.", subcommands: [Status.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each mailbox: state, failure class, last sync, counts.")
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let mailboxes = try await service.rpc("email_calendar") {
                try await EmailCalendarV1.EmailCalendarService.Client(transport: $0).getSyncStatus(.init(), options: $1)
            }.mailboxes
            guard !mailboxes.isEmpty else { return print("no mailboxes are synced in this workspace") }
            let when = { (ms: Int64) in ms == 0 ? "never" : ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000)) }
            for m in mailboxes {
                print("\(m.ownerEmail)  \(m.state)\(m.failureClass.isEmpty ? "" : " (\(m.failureClass): \(m.failure))")  last sync \(when(m.lastSyncedAtUnixMs))"
                      + "  \(m.messagesSeen) read, \(m.messagesStored) stored  watch until \(when(m.watchExpiresAtUnixMs))  connection \(m.connectionID)")
            }
        }
    }
}
