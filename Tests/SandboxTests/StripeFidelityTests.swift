import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Sandbox
import SandboxStripe
import TestSupport
import Testing

/// Compares what the stand-in returns with Stripe's own sample objects (`fixtures3.json` from
/// stripe/openapi, in `../shared/reference/specs`). Runs where that copy exists (CI has it).
@Suite(.hangGuard) struct StripeFidelityTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/reference/specs/fixtures3.json").standardizedFileURL

    static var haveFixtures: Bool { FileManager.default.fileExists(atPath: fixtures.path) }

    @Test(.enabled(if: haveFixtures, "skipped: ../shared/reference/specs/fixtures3.json is not beside this clone"))
    func everyFixtureFieldIsServedWithItsType() async throws {
        let resources = try JSON.decode(Array(try Data(contentsOf: Self.fixtures)))["resources"]
        let app = SandboxApp.build(standIns: [StripeStandIn()], port: 0, journal: Journal(), faults: Faults(),
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in
            let c = StripeStandInTests.Client(client: client)
            let (customer, price, subscription) = try await c.seedSubscription()
            let sub = try await c.call(.get, "/stripe/v1/subscriptions/\(subscription)").json
            let invoice = try await c.call(.get, "/stripe/v1/invoices/\(sub["latest_invoice"].stringValue!)").json
            let event = try await c.call(.get, "/stripe/v1/events", "limit=1").json["data"].arrayValue!.first!
            let served: [(String, JSON)] = [
                ("customer", try await c.call(.get, "/stripe/v1/customers/\(customer)").json),
                ("price", try await c.call(.get, "/stripe/v1/prices/\(price)").json),
                ("subscription", sub),
                ("subscription_item", sub["items"]["data"].arrayValue!.first!),
                ("invoice", invoice),
                ("event", event),
            ]
            for (name, ours) in served {
                var problems: [String] = []
                var fixture = resources[name]
                // The sample event wraps some other resource; each resource is compared on its own above.
                if name == "event" { fixture["data"] = .object([:]) }
                Self.compare(fixture, ours, path: name, problems: &problems)
                #expect(problems.isEmpty, "\(name): \(problems.joined(separator: "; "))")
            }
        }
    }

    /// Every key of `fixture` must be in `ours`; where both are non-null their JSON kinds must agree.
    static func compare(_ fixture: JSON, _ ours: JSON, path: String, problems: inout [String]) {
        guard case .object(let expected) = fixture else { return }
        guard case .object(let actual) = ours else { problems.append("\(path) is not an object"); return }
        for (key, value) in expected {
            guard let mine = actual[key] else { problems.append("\(path).\(key) missing"); continue }
            switch (value, mine) {
            case (.null, _), (_, .null): continue
            case (.object, .object): compare(value, mine, path: "\(path).\(key)", problems: &problems)
            case (.array(let a), .array(let b)):
                if let first = a.first, let mineFirst = b.first { compare(first, mineFirst, path: "\(path).\(key)[0]", problems: &problems) }
            default:
                if kind(value) != kind(mine) { problems.append("\(path).\(key) is \(kind(mine)), Stripe sends \(kind(value))") }
            }
        }
    }

    static func kind(_ j: JSON) -> String {
        switch j {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
