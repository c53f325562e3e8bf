import Foundation
import Sandbox

/// Calendars of the sandbox's Google users: events with a change sequence (for sync tokens) and
/// push channels.
actor CalendarStore {
    struct Event: Sendable {
        var json: JSON
        var sequence: Int
        var cancelled: Bool { json["status"] == "cancelled" }
    }

    struct Channel: Sendable {
        var id: String
        var resourceID: String
        var token: String?
        var address: String
        var expiration: Int64
        var user: String
        var messageNumber: Int
    }

    private var events: [String: [String: Event]] = [:]
    private var sequence = 0
    /// Sync tokens minted before this sequence are no longer valid (410 `fullSyncRequired`).
    private var validFrom = 0
    private var channels: [String: Channel] = [:]
    /// While holding, notifications wait, to be released duplicated or out of order.
    private var holding = false
    private var held: [(channel: Channel, state: String, number: Int)] = []

    func hold() { holding = true }

    func release() -> [(channel: Channel, state: String, number: Int)] {
        holding = false
        defer { held.removeAll() }
        return held
    }

    /// Keeps the notification when holding; true when it should be sent now.
    func admit(_ channel: Channel, state: String, number: Int) -> Bool {
        guard holding else { return true }
        held.append((channel, state, number))
        return false
    }
    private var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed &+ 11) }

    /// Lower-case base32hex, as Google's event ids are.
    func newID(length: Int = 26) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuv")
        return String((0..<length).map { _ in alphabet[Int(rng.next() % 32)] })
    }

    func nextSequence() -> Int {
        sequence += 1
        return sequence
    }

    func event(user: String, id: String) -> Event? { events[user]?[id] }

    func put(user: String, id: String, json: JSON) -> Event {
        let e = Event(json: json, sequence: nextSequence())
        events[user, default: [:]][id] = e
        return e
    }

    func all(user: String) -> [Event] { (events[user] ?? [:]).values.sorted { $0.sequence < $1.sequence } }

    var currentSequence: Int { sequence }

    func syncTokenIsValid(_ seq: Int) -> Bool { seq >= validFrom && seq <= sequence }

    /// Every token minted so far stops working; those minted from now on work.
    func expireSyncTokens() {
        sequence += 1
        validFrom = sequence
    }

    func addChannel(_ c: Channel) { channels[c.id] = c }

    func removeChannel(id: String, resourceID: String) -> Bool {
        guard let c = channels[id], c.resourceID == resourceID else { return false }
        channels[id] = nil
        return true
    }

    /// Channels watching `user`'s calendar, each with its next message number.
    func channelsToNotify(user: String) -> [Channel] {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var due: [Channel] = []
        for (id, var c) in channels where c.user == user && c.expiration > now {
            c.messageNumber += 1 + Int(rng.next() % 3)  // increasing, not necessarily consecutive
            channels[id] = c
            due.append(c)
        }
        return due
    }
}
