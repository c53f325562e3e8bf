import Cryptography
import Foundation
import HTTPTypes
import Hummingbird
import Sandbox

/// What changed in a collection (a mail folder, a calendar), numbered, for delta queries: each
/// change of an item, a removal kept as a tombstone. Tokens below `validFrom` are forgotten.
struct ChangeLog {
    struct Change {
        var sequence: Int
        var collection: String
        var id: String
        var removed: Bool
    }

    private(set) var sequence = 0
    private var validFrom = 0
    private var changes: [Change] = []

    mutating func record(_ id: String, in collection: String, removed: Bool = false) {
        sequence += 1
        changes.append(Change(sequence: sequence, collection: collection, id: id, removed: removed))
    }

    func isKnown(_ token: Int) -> Bool { token >= validFrom && token <= sequence }

    /// The collection's changes after `after` up to `upTo`, each id once (its last change).
    func changes(in collection: String, after: Int, upTo: Int) -> [Change] {
        var last: [String: Change] = [:]
        for change in changes where change.collection == collection && change.sequence > after && change.sequence <= upTo { last[change.id] = change }
        return last.values.sorted { $0.sequence < $1.sequence }
    }

    /// Every token handed out so far stops working.
    mutating func expire() {
        sequence += 1
        validFrom = sequence
    }
}

/// A Graph delta round: its position travels opaquely in `$skiptoken` (next pages) and
/// `$deltatoken` (the next round); pages are `Prefer: odata.maxpagesize` long (10 by default); a
/// token no longer known answers 410 `SyncStateNotFound`.
enum GraphDelta {
    /// The changes after `since` (0: an initial round — every current item) as of `round`,
    /// `offset` of them already sent; `scope` is what the first request fixed (a filter, a window).
    struct Position {
        var since: Int
        var round: Int
        var offset: Int
        var scope: String

        var token: String { Digest.base64URL(Array("\(since)|\(round)|\(offset)|\(scope)".utf8)) }

        init(since: Int, round: Int, offset: Int, scope: String) {
            (self.since, self.round, self.offset, self.scope) = (since, round, offset, scope)
        }

        init?(token: String) {
            guard let bytes = Digest.base64URLDecode(token) else { return nil }
            let parts = String(decoding: bytes, as: UTF8.self).split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, let since = Int(parts[0]), let round = Int(parts[1]), let offset = Int(parts[2]) else { return nil }
            self.init(since: since, round: round, offset: offset, scope: String(parts[3]))
        }
    }

    static let gone = GraphMail.Failure(response: GraphMail.error(
        .gone, "SyncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again."))

    /// The position a request asks for; `scope` reads a new round's scope from the request.
    static func position(_ request: Request, isKnown: (Int) -> Bool, current: Int, scope: () throws -> String) throws -> Position {
        let q = request.uri.queryParameters
        if let skip = q["$skiptoken"].map(String.init) {
            guard let p = Position(token: skip), isKnown(p.since == 0 ? p.round : p.since) else { throw gone }
            return p
        }
        if let delta = q["$deltatoken"].map(String.init) {
            guard let p = Position(token: delta), p.since > 0, isKnown(p.since) else { throw gone }
            return Position(since: p.since, round: current, offset: 0, scope: p.scope)
        }
        return Position(since: 0, round: current, offset: 0, scope: try scope())
    }

    /// One page of the round's `entries` (only the `select`ed properties), ending in
    /// `@odata.nextLink` or `@odata.deltaLink` (both on `link`).
    static func page(_ entries: [JSON], at position: Position, link: String, context: String, request: Request, select: String? = nil) -> JSON {
        let size = GraphMail.preference("odata.maxpagesize", in: request).flatMap { Int($0) } ?? 10
        let page = Array(entries.dropFirst(position.offset).prefix(max(1, size)))
        var json: JSON = ["@odata.context": .string(context), "value": .array(page.map { GraphMail.select($0, select) })]
        if position.offset + page.count < entries.count {
            var next = position
            next.offset += page.count
            json["@odata.nextLink"] = .string(link + "?$skiptoken=" + next.token)
        } else {
            json["@odata.deltaLink"] = .string(link + "?$deltatoken=" + Position(since: position.round, round: position.round, offset: 0, scope: position.scope).token)
        }
        return json
    }

    /// A removed item as delta reports it.
    static func removed(_ id: String, type: String) -> JSON {
        ["@odata.type": .string(type), "id": .string(id), "@removed": ["reason": "deleted"]]
    }
}
