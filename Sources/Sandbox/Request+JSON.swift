public import Hummingbird

extension Request {
    /// The body as JSON; nil when it is not JSON or longer than `limit` bytes.
    public mutating func jsonBody(upTo limit: Int = 1 << 20) async -> JSON? {
        guard let body = try? await collectBody(upTo: limit) else { return nil }
        return try? JSON.decode(Array(buffer: body))
    }
}

/// How a control asks held or recorded deliveries to be sent: `{"reverse": true}` newest first,
/// `{"duplicate": true}` each twice (both: duplicates out of order).
public enum DeliveryOrder {
    public static func arrange<T>(_ items: [T], options: JSON?) -> [T] {
        var items = items
        if options?["reverse"] == true { items.reverse() }
        if options?["duplicate"] == true { items = items.flatMap { [$0, $0] } }
        return items
    }
}
