import CRM
import CurlHTTP
import EmailCalendar
import Foundation
import Gateway
import Messages
import Platform
import Postgres
import RPC
import TestSupport
import Testing

/// The service as the gateway's dispatcher reaches it: over RPC with the service's identity key for
/// the workspace, reading tokens back from the real gateway, syncing from the Google stand-in.
@Suite(.hangGuard) struct EmailCalendarServiceTests {
    @Test func aConnectionStartsItsMailboxAndPushesCatchItUpWithTokensFromTheGateway() async throws {
        try await EmailServiceHarness.run { s in
            try await s.google.deliver(from: "Buyer <buyer@example.com>", subject: "renewal")
            // The gateway's connection.created event: the mailbox starts and the contact's mail is stored.
            #expect(try await s.deliverQueued("connection.created") == 1)
            #expect(try await s.subjects() == ["renewal"])

            // A Pub/Sub push for the mailbox: what arrived since is stored.
            try await s.google.deliver(from: "buyer@example.com", subject: "signed contract")
            try await s.push()
            #expect(try await s.subjects() == ["renewal", "signed contract"])

            // Pushes out of order and twice (Pub/Sub promises neither order nor once): each message still once.
            try await s.google.deliver(from: "buyer@example.com", subject: "late a")
            try await s.google.deliver(from: "buyer@example.com", subject: "late b")
            for history in [9_000, 10, 9_000, 10] as [UInt64] { try await s.push(historyID: history) }
            #expect(try await s.subjects() == ["late a", "late b", "renewal", "signed contract"])
            try await s.db.execute("DELETE FROM activities WHERE subject LIKE 'late %'")

            // Only the gateway delivers events: a user's key (even one for every service) is refused, nothing is stored.
            try await s.google.deliver(from: "buyer@example.com", subject: "third")
            await #expect(throws: RPCError.self) { try await s.push(options: s.user) }
            #expect(try await s.subjects() == ["renewal", "signed contract"])
            try await s.push()
            let status = try await s.email.getSyncStatus(.init(), options: s.user).mailboxes
            #expect(status.count == 1 && status.first?.state == "active" && status.first?.failureClass == "" && status.first?.ownerEmail == EmailServiceHarness.owner)
            #expect(status.first?.messagesStored == 5 && (status.first?.lastSyncedAtUnixMs ?? 0) > 0 && (status.first?.watchExpiresAtUnixMs ?? 0) > 0)
            #expect(try await s.subjects() == ["renewal", "signed contract", "third"])

            // The gateway's hourly tick: a watch near its end is renewed, and mail whose push was lost is caught up.
            try await s.db.execute("UPDATE mailboxes SET watch_expires_at = now() + interval '1 hour'")
            try await s.google.deliver(from: "buyer@example.com", subject: "fourth, its push lost")
            #expect(try await s.connections.enqueueTicks(provider: "google") == 1)
            #expect(try await s.connections.enqueueTicks(provider: "google") == 0)  // once an hour per connection
            #expect(try await s.deliverQueued("sync.tick") == 1)
            #expect(try await s.db.query("SELECT watch_expires_at > now() + interval '6 days' FROM mailboxes")[0].decode(Bool.self, at: 0))
            #expect(try await s.subjects() == ["fourth, its push lost", "renewal", "signed contract", "third"])
            // A push for a mailbox this workspace does not sync is acknowledged and changes nothing.
            try await s.push(for: "bob@nexa-demo.test")
            #expect(try await s.subjects().count == 4)
        }
    }

    @Test func aLostConnectionEventLeavesNothingUnsyncedTheNextTickStartsTheMailboxAndCalendar() async throws {
        try await EmailServiceHarness.run { s in
            try await s.google.deliver(from: "buyer@example.com", subject: "before the tick")
            // connection.created never reached the service (dead-lettered, say).
            try await s.db.execute("UPDATE webhook_inbox SET status = 'dead' WHERE event_type = 'connection.created'")
            #expect(try await s.connections.enqueueTicks(provider: "google") == 1)
            #expect(try await s.deliverQueued("sync.tick") == 1)
            let status = try await s.email.getSyncStatus(.init(), options: s.user)
            #expect(status.mailboxes.map(\.state) == ["active"] && status.calendars.map(\.state) == ["active"])
            #expect(try await s.subjects() == ["before the tick"])
            #expect(try await s.db.query("SELECT owner_user_id = \(s.connection.userID) FROM calendars")[0].decode(Bool.self, at: 0))
        }
    }

    @Test func aConnectionThatNeedsTheUserPausesItsMailboxAndReconnectingResumesItFromItsCursor() async throws {
        try await EmailServiceHarness.run { s in
            try await s.deliverQueued("connection.created")
            let cursor = try await s.db.query("SELECT history_id FROM mailboxes")[0].decode(Int64.self, at: 0)
            // Google refuses the refresh token: the gateway marks the connection and tells the service.
            await #expect(throws: PlatformError.self) {
                _ = try await s.connections.refreshed(connectionID: s.connection.id, workspaceID: s.workspace, force: true)
            }
            #expect(try await s.deliverQueued("connection.reauth_required") == 1)
            var status = try #require(try await s.email.getSyncStatus(.init(), options: s.user).mailboxes.first)
            #expect(status.state == "failed" && status.failureClass == "auth")

            // While paused, pushes and ticks are acknowledged without work (no retries, no dead letters).
            try await s.google.deliver(from: "buyer@example.com", subject: "while paused")
            try await s.push()
            #expect(try await s.connections.enqueueTicks(provider: "google") == 0)  // the gateway ticks active connections only
            #expect(try await s.subjects().isEmpty)

            // The user connects again: the mailbox resumes from its cursor (no full sync), and what arrived meanwhile is stored.
            _ = try await s.connections.save(
                workspaceID: s.workspace, userID: s.connection.userID, provider: s.provider, email: EmailServiceHarness.owner,
                tokens: .init(accessToken: try await s.google.token(), refreshToken: "r2", expiresIn: 3599,
                              scopes: EmailServiceHarness.scopes, email: EmailServiceHarness.owner))
            #expect(try await s.deliverQueued("connection.created") == 1)
            #expect(try await s.subjects() == ["while paused"])
            status = try #require(try await s.email.getSyncStatus(.init(), options: s.user).mailboxes.first)
            #expect(status.state == "active" && status.failureClass == "" && status.messagesSeen == 1)
            #expect(try await s.db.query("SELECT history_id FROM mailboxes")[0].decode(Int64.self, at: 0) > cursor)
        }
    }
}
