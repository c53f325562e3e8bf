import ArgumentParser
import CurlHTTP
import Foundation
import Logging
import Postgres

/// `nexa-bench mail-push`: mail arriving at a steady rate in a connected mailbox, each message
/// pushed by the Google stand-in's Pub/Sub to the gateway (verified, stored, acknowledged), handed
/// to the email service, read from Gmail's history and stored as an activity. Prints, per
/// message, how long from its arrival until the gateway acknowledged the push (the ingest, the
/// baseline) and until its activity was committed (the whole path: the commit's time, with
/// `track_commit_timestamp` on; the transaction's start without it), at p50 and p99.
struct MailPushBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mail-push")
    @Option var databaseURL: String
    @Option var sandboxURL: String
    @Option var workspace: String
    @Option var rate = 50
    @Option var seconds = 20
    @Option(help: "Addresses contact0@example.com … of the workspace's contacts.") var contacts = 1000
    @Option(help: "The connected mailboxes the mail arrives in, in turn (comma-separated).") var mailboxes = "ana@nexa-demo.test"

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let db = PostgresClient(conninfo: databaseURL, maximumConnections: 2, logger: logger)
        let http = HTTPClient()
        let total = rate * seconds
        let (contacts, sandboxURL) = (self.contacts, self.sandboxURL)
        let owners = mailboxes.split(separator: ",").map(String.init)
        let clock = ContinuousClock()
        let start = clock.now
        let sent = try await withThrowingTaskGroup(of: (String, Date, Date).self) { group in
            for i in 0..<total {
                try await clock.sleep(until: start + .milliseconds(i * 1000 / rate))  // a steady rate, not a burst
                group.addTask {
                    let body = try JSONSerialization.data(withJSONObject: [
                        "to": owners[i % owners.count], "from": "Contact <contact\(i % contacts)@example.com>", "subject": "Push \(i)",
                        "text": "Hi Ana, could we schedule a call about pricing? Thanks!",
                    ])
                    let sent = Date()
                    let response = try await http.execute(.json(sandboxURL + "/_sandbox/google/gmail/deliver", Array(body)))
                    let acknowledged = Date()
                    guard response.status == 200, let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
                          let id = json["id"] as? String else { throw ValidationError("the stand-in refused a message: \(response.status)") }
                    return (id, sent, acknowledged)
                }
            }
            var arrivals: [String: (sent: Date, acknowledged: Date)] = [:]
            for try await (id, sent, acknowledged) in group { arrivals[id] = (sent, acknowledged) }
            return arrivals
        }
        let ids = PostgresTextArray(Array(sent.keys))
        let deadline = clock.now + .seconds(60)
        var stored: [String: Date] = [:]
        while clock.now < deadline {
            stored = Dictionary(uniqueKeysWithValues: try await db.query("""
                SELECT external_id, coalesce(pg_xact_commit_timestamp(xmin), created_at) FROM activities WHERE workspace_id = \(workspace)::uuid AND source = 'gmail' AND external_id = ANY(\(ids)::text[])
                """).map { (try $0.decode(String.self, at: 0), try $0.decode(Date.self, at: 1)) })
            if stored.count == sent.count { break }
            try await clock.sleep(for: .milliseconds(200))
        }
        guard stored.count == sent.count else { throw ValidationError("only \(stored.count) of \(sent.count) pushed messages became activities within a minute") }
        func percentile(_ values: [Double], _ p: Double) -> Double {
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
        }
        let ingest = sent.values.map { $0.acknowledged.timeIntervalSince($0.sent) * 1000 }
        let whole = sent.map { id, times in stored[id]!.timeIntervalSince(times.sent) * 1000 }
        let p99 = percentile(whole, 0.99)
        print(String(format: "mail push at %d/s for %d s (%d messages, %d mailboxes): arrival → activity p50 %.0f ms, p99 %.0f ms (target p99 <= 1000 ms: %@)   arrival → gateway ack p50 %.0f ms, p99 %.0f ms",
                     rate, seconds, total, owners.count, percentile(whole, 0.5), p99, p99 <= 1000 ? "met" : "NOT met", percentile(ingest, 0.5), percentile(ingest, 0.99)))
    }
}
