import ArgumentParser
import CRM
import Foundation
import Postgres

/// `nexactl crm …`: CRM records created, read and scored through the CRM module, as the CRM does.
struct CRMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm", abstract: "CRM records: add, list, show; move a deal's stage; scores.",
        subcommands: [Add.self, Stage.self, List.self, Show.self, Score.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a record and print its id.",
            subcommands: [Account.self, Contact.self, Lead.self, Deal.self, ContactList.self, Members.self, Ticket.self, Meeting.self])

        struct Account: AsyncParsableCommand {
            @Argument var name: String
            @Option var domain: String?
            @Option(help: "The CSM's user id.") var csm: String?
            @OptionGroup var scope: CRMScope

            func run() async throws {
                let csm = try csm.map { try uuid($0, "--csm") }
                try await scope.print { try await Records.addAccount(name: name, domain: domain, csm: csm, workspace: $0, in: $1) }
            }
        }

        struct Contact: AsyncParsableCommand {
            @Argument var email: String
            @Option var firstName = ""
            @Option var lastName = ""
            @Option(help: "Account id.") var account: String?
            @OptionGroup var scope: CRMScope

            func run() async throws {
                let account = try account.map { try uuid($0, "--account") }
                try await scope.print {
                    try await Records.addContact(email: email, firstName: firstName, lastName: lastName, account: account, workspace: $0, in: $1)
                }
            }
        }

        struct Lead: AsyncParsableCommand {
            @Argument var email: String
            @Option var firstName = ""
            @Option var lastName = ""
            @Option var company: String?
            @Option(help: "new, contacted, qualified, unqualified or converted.") var status = "new"
            @OptionGroup var scope: CRMScope

            func run() async throws {
                try await scope.print {
                    try await Records.addLead(email: email, firstName: firstName, lastName: lastName, company: company, status: status,
                                              workspace: $0, in: $1)
                }
            }
        }

        struct Deal: AsyncParsableCommand {
            @Argument var name: String
            @Option(help: "Account id.") var account: String
            @Option(help: "Primary contact id.") var contact: String?
            @Option(help: "open, closed_won, closed_lost, …") var stage = "open"
            @Option(help: "A line item, PRICE:QUANTITY (repeatable).") var item: [String] = []
            @OptionGroup var scope: CRMScope

            func run() async throws {
                let account = try uuid(account, "--account")
                let contact = try contact.map { try uuid($0, "--contact") }
                let items = try item.map { text -> Records.LineItem in
                    let parts = text.split(separator: ":")
                    guard parts.count == 2, let quantity = Int(parts[1]) else { throw ValidationError("--item takes PRICE:QUANTITY, not \(text)") }
                    return Records.LineItem(price: String(parts[0]), quantity: quantity)
                }
                try await scope.print {
                    try await Records.addDeal(name: name, account: account, primaryContact: contact, stage: stage, items: items, workspace: $0, in: $1)
                }
            }
        }

        struct ContactList: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "Add a contact list.")
            @Argument var name: String
            @OptionGroup var scope: CRMScope

            func run() async throws {
                try await scope.print { try await Records.addList(name: name, workspace: $0, in: $1) }
            }
        }

        struct Members: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add contacts, by address, to a list; prints how many were added.")
            @Argument(help: "List id.") var list: String
            @Argument(help: "Contacts' addresses.") var emails: [String]
            @OptionGroup var scope: CRMScope

            func run() async throws {
                let list = try uuid(list, "LIST")
                try await scope.print { try await Records.addMembers(emails, to: list, workspace: $0, in: $1) }
            }
        }

        struct Ticket: AsyncParsableCommand {
            @Argument var subject: String
            @Option(help: "Contact id.") var contact: String?
            @Option(help: "Account id.") var account: String?
            @Option var priority = "normal"
            @Flag(help: "Mark it for escalation to the helpdesk.") var escalate = false
            @OptionGroup var scope: CRMScope

            func run() async throws {
                let contact = try contact.map { try uuid($0, "--contact") }
                let account = try account.map { try uuid($0, "--account") }
                try await scope.print {
                    try await Records.addTicket(subject: subject, contact: contact, account: account, priority: priority, escalate: escalate,
                                                workspace: $0, in: $1)
                }
            }
        }

        struct Meeting: AsyncParsableCommand {
            @Argument var title: String
            @Option(help: "Start, ISO 8601 (2026-12-07T15:00:00Z).") var starts: String
            @Option(help: "End, ISO 8601.") var ends: String
            @Option(help: "An attendee's address (repeatable).") var attendee: [String] = []
            @OptionGroup var scope: CRMScope

            func run() async throws {
                guard let start = ISO8601DateFormatter().date(from: starts) else { throw ValidationError("--starts is not an ISO 8601 time") }
                guard let end = ISO8601DateFormatter().date(from: ends) else { throw ValidationError("--ends is not an ISO 8601 time") }
                try await scope.print {
                    try await Records.addMeeting(title: title, startsAt: start, endsAt: end, attendees: attendee, workspace: $0, in: $1)
                }
            }
        }
    }

    struct Stage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move a deal to a stage (closed_won: billing takes it from the change feed).")
        @Argument(help: "Deal id.") var deal: String
        @Argument var stage: String
        @OptionGroup var scope: CRMScope

        func run() async throws {
            let deal = try uuid(deal, "DEAL")
            try await scope.run { try await Records.setDealStage(deal, to: stage, workspace: $0, in: $1) }
            Swift.print("\(deal.uuidString.lowercased()) is \(stage)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the newest records of a kind.")
        @Argument(help: "accounts, contacts, leads, deals, lists, tickets or meetings.") var kind: String
        @Option var limit = 50
        @OptionGroup var scope: CRMScope

        func run() async throws {
            let kind = try recordKind(kind)
            for (id, summary) in try await scope.run({ try await Records.list(kind, limit: limit, workspace: $0, in: $1) }) {
                Swift.print("\(id.uuidString.lowercased())  \(summary)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one record as JSON.")
        @Argument(help: "accounts, contacts, leads, deals, lists, tickets or meetings.") var kind: String
        @Argument var id: String
        @OptionGroup var scope: CRMScope

        func run() async throws {
            let kind = try recordKind(kind)
            let id = try uuid(id, "ID")
            guard let json = try await scope.run({ try await Records.show(kind, id: id, workspace: $0, in: $1) }) else {
                fail("no \(kind.rawValue.dropLast()) \(id.uuidString.lowercased()) in this workspace")
            }
            Swift.print(json)
        }
    }

    struct Score: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recalculate a contact's engagement score or a lead's lead score from stored activity, and show its breakdown.")
        @Argument(help: "contact or lead.") var kind: String
        @Argument var id: String
        @OptionGroup var scope: CRMScope

        func run() async throws {
            let id = try uuid(id, "ID")
            guard kind == "contact" || kind == "lead" else { throw ValidationError("score a contact or a lead, not \(kind)") }
            let breakdown = try await scope.run { workspace, tx in
                kind == "lead" ? try await Scores.recalculateLead(lead: id, workspace: workspace, in: tx)
                    : try await Scores.recalculateEngagement(contact: id, workspace: workspace, in: tx)
            }
            guard let breakdown else { fail("no \(kind) \(id.uuidString.lowercased()) in this workspace") }
            Swift.print("\(kind == "lead" ? "lead" : "engagement") score \(breakdown.total)/100")
            for line in breakdown.lines {
                Swift.print("  \(line.points >= 0 ? "+" : "")\(line.points)  \(line.factor)" + (line.count > 1 ? " (\(line.count))" : ""))
            }
        }
    }
}

private func recordKind(_ text: String) throws -> Records.Kind {
    guard let kind = Records.Kind(rawValue: text) else {
        throw ValidationError("\(text) is not one of \(Records.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return kind
}

/// The workspace and database a `crm` command works in.
struct CRMScope: ParsableArguments {
    @Option(help: "Workspace id (default: $NEXA_WORKSPACE).")
    var workspace: String = ProcessInfo.processInfo.environment["NEXA_WORKSPACE"] ?? ""
    @OptionGroup var database: DatabaseOptions

    /// Runs `body` in one transaction; a refusal ends the command with its message.
    func run<R: Sendable>(_ body: @Sendable (UUID, PostgresConnectionHandle) async throws -> R) async throws -> R {
        let workspace = try uuid(workspace, "--workspace")
        let db = PostgresClient(conninfo: database.databaseURL, maximumConnections: 1, logger: .cli)
        do {
            return try await db.withTransaction { try await body(workspace, $0) }
        } catch let error as CRMError {
            fail(error.message)
        } catch let error as PostgresError {
            fail(error.message)
        }
    }

    /// Runs `body` and prints what it returns (an id in lower case).
    func print(_ body: @Sendable (UUID, PostgresConnectionHandle) async throws -> some Sendable) async throws {
        let value = try await run(body)
        Swift.print((value as? UUID)?.uuidString.lowercased() ?? "\(value)")
    }
}

private func uuid(_ text: String, _ name: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("\(name) is not a UUID: \(text)") }
    return id
}
