import ArgumentParser
import CurlHTTP
import Foundation

/// `nexactl sandbox …`: drive the provider stand-ins (nexa-sandbox) from the command line.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Drive the provider stand-ins: requests they received, injected faults, billing scenarios.",
        subcommands: [Requests.self, Fault.self, ClearFaults.self, StripePay.self, StripeFail.self, StripeDeliveries.self, Mail.self,
                      GmailDeliver.self, CalendarAdd.self, CalendarChange.self, CalendarCancel.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "Base URL of nexa-sandbox (default $NEXA_SANDBOX_URL or http://127.0.0.1:7300).")
        var sandboxURL: String = ProcessInfo.processInfo.environment["NEXA_SANDBOX_URL"] ?? "http://127.0.0.1:7300"

        /// Sends a control request and prints the answer; fails on a non-2xx status.
        func call(_ method: String, _ path: String, json: String? = nil) async throws {
            let request = json.map { HTTPClientRequest.json(sandboxURL + path, Array($0.utf8), method: method) }
                ?? HTTPClientRequest(method: method, url: sandboxURL + path)
            let response: HTTPClientResponse
            do {
                response = try await HTTPClient().execute(request, timeout: .seconds(30))
            } catch let error as HTTPClientError {
                fail("cannot reach nexa-sandbox at \(sandboxURL): \(error.message)")
            }
            if !response.body.isEmpty { print(response.bodyText) }
            guard (200..<300).contains(response.status) else { fail("nexa-sandbox answered \(response.status)") }
        }
    }

    struct Requests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every request the stand-ins received (JSON).")
        @Option(help: "Only this provider, e.g. stripe.") var provider: String?
        @OptionGroup var options: Options
        func run() async throws {
            try await options.call("GET", "/_sandbox/requests" + (provider.map { "?provider=\(HTTPClientRequest.formEncode($0))" } ?? ""))
        }
    }

    struct Fault: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inject a fault: a status (429 with --retry-after, 500, 503…) and/or latency, for some requests.")
        @Option(help: "Provider, e.g. stripe.") var provider: String
        @Option(help: "Only this HTTP method.") var method: String?
        @Option(help: "Only paths below the provider's base URL starting with this, e.g. /v1/customers.") var path: String?
        @Option(help: "Answer with this status instead of serving.") var status: Int?
        @Option(help: "Retry-After seconds sent with --status.") var retryAfter: Int?
        @Option(help: "Delay in milliseconds before answering.") var latencyMs: Int?
        @Option(help: "How many matching requests it affects (default all).") var times: Int?
        @Flag(help: "Close the connection without answering.") var drop = false
        @OptionGroup var options: Options
        func run() async throws {
            var fields = ["\"provider\": \(quoted(provider))"]
            if let method { fields.append("\"method\": \(quoted(method.uppercased()))") }
            if let path { fields.append("\"pathPrefix\": \(quoted(path))") }
            if let status { fields.append("\"status\": \(status)") }
            if let retryAfter { fields.append("\"retryAfter\": \(retryAfter)") }
            if let latencyMs { fields.append("\"latencyMilliseconds\": \(latencyMs)") }
            if let times { fields.append("\"times\": \(times)") }
            if drop { fields.append("\"dropConnection\": true") }
            try await options.call("POST", "/_sandbox/faults", json: "{" + fields.joined(separator: ", ") + "}")
            print("fault added")
        }
    }

    struct ClearFaults: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "clear-faults", abstract: "Remove every injected fault.")
        @OptionGroup var options: Options
        func run() async throws { try await options.call("DELETE", "/_sandbox/faults") }
    }

    struct StripePay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stripe-pay", abstract: "Pay a subscription's next invoice.")
        @Argument(help: "Subscription id (sub_…).") var subscription: String
        @OptionGroup var options: Options
        func run() async throws { try await options.call("POST", "/_sandbox/stripe/subscriptions/\(subscription)/pay") }
    }

    struct StripeFail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stripe-fail", abstract: "Fail a subscription's next invoice payment.")
        @Argument(help: "Subscription id (sub_…).") var subscription: String
        @OptionGroup var options: Options
        func run() async throws { try await options.call("POST", "/_sandbox/stripe/subscriptions/\(subscription)/fail") }
    }

    struct StripeDeliveries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stripe-webhooks",
            abstract: "List the signed webhook deliveries, or send them to --url (optionally duplicated, reversed or stale).")
        @Option(help: "POST them to this URL instead of listing them.") var url: String?
        @Flag(help: "Send each twice.") var duplicate = false
        @Flag(help: "Send newest first.") var reverse = false
        @Option(help: "Sign with a timestamp this many seconds old.") var staleSeconds: Int?
        @OptionGroup var options: Options
        func run() async throws {
            guard let url else { return try await options.call("GET", "/_sandbox/stripe/deliveries") }
            var fields = ["\"url\": \(quoted(url))", "\"duplicate\": \(duplicate)", "\"reverse\": \(reverse)"]
            if let staleSeconds { fields.append("\"stale_seconds\": \(staleSeconds)") }
            try await options.call("POST", "/_sandbox/stripe/deliveries/send", json: "{" + fields.joined(separator: ", ") + "}")
        }
    }
}

extension SandboxCommand {
    struct Mail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "E-mails the capturing SMTP server received (JSON).")
        @OptionGroup var options: Options
        func run() async throws { try await options.call("GET", "/_sandbox/smtp/messages") }
    }
}

extension SandboxCommand {
    struct GmailDeliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gmail-deliver", abstract: "Deliver an inbound e-mail to a sandbox Gmail user (fires the Pub/Sub push).")
        @Option(help: "Recipient: a sandbox user, e.g. ana@nexa-demo.test.") var to: String
        @Option(help: "Sender.") var from: String = "customer@example.com"
        @Option(help: "Subject.") var subject: String
        @Option(help: "Plain-text body.") var text: String = ""
        @OptionGroup var options: Options
        func run() async throws {
            try await options.call("POST", "/_sandbox/google/gmail/deliver",
                                   json: "{\"to\": \(quoted(to)), \"from\": \(quoted(from)), \"subject\": \(quoted(subject)), \"text\": \(quoted(text))}")
        }
    }

    struct CalendarAdd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "calendar-add", abstract: "Add an event to a sandbox user's Google Calendar (notifies its channels).")
        @Option(help: "A sandbox user, e.g. ana@nexa-demo.test.") var user: String
        @Option(help: "Title.") var summary: String
        @Option(help: "Start, RFC 3339 (2026-12-01T10:00:00Z).") var start: String
        @Option(help: "End, RFC 3339.") var end: String
        @Option(help: "Attendee e-mails, comma-separated.") var attendees: String = ""
        @OptionGroup var options: Options
        func run() async throws {
            let people = attendees.split(separator: ",").map { "{\"email\": \(quoted(String($0)))}" }.joined(separator: ", ")
            try await options.call("POST", "/_sandbox/google/calendar/events", json: """
                {"user": \(quoted(user)), "event": {"summary": \(quoted(summary)), "start": {"dateTime": \(quoted(start))},
                 "end": {"dateTime": \(quoted(end))}, "attendees": [\(people)]}}
                """)
        }
    }

    struct CalendarChange: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "calendar-change", abstract: "Change a sandbox calendar event (notifies its channels).")
        @Argument(help: "Event id.") var id: String
        @Option(help: "The calendar's user.") var user: String
        @Option(help: "New title.") var summary: String?
        @Option(help: "New start, RFC 3339.") var start: String?
        @Option(help: "New end, RFC 3339.") var end: String?
        @OptionGroup var options: Options
        func run() async throws {
            var changes: [String] = []
            if let summary { changes.append("\"summary\": \(quoted(summary))") }
            if let start { changes.append("\"start\": {\"dateTime\": \(quoted(start))}") }
            if let end { changes.append("\"end\": {\"dateTime\": \(quoted(end))}") }
            try await options.call("PATCH", "/_sandbox/google/calendar/events/\(id)",
                                   json: "{\"user\": \(quoted(user)), \"changes\": {" + changes.joined(separator: ", ") + "}}")
        }
    }

    struct CalendarCancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "calendar-cancel", abstract: "Cancel a sandbox calendar event.")
        @Argument(help: "Event id.") var id: String
        @Option(help: "The calendar's user.") var user: String
        @OptionGroup var options: Options
        func run() async throws {
            try await options.call("DELETE", "/_sandbox/google/calendar/events/\(id)?user=\(HTTPClientRequest.formEncode(user))")
        }
    }
}

/// A JSON string literal.
private func quoted(_ s: String) -> String {
    let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
    return String(decoding: data, as: UTF8.self)
}
