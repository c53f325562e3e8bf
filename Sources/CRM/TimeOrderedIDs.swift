public import Foundation

/// Ids for records created in bulk (imports): UUID version 7 (RFC 9562, section 5.7) — 48 bits of
/// Unix milliseconds, a 12-bit counter within the millisecond (its "method 1"), then random bits —
/// so records written together sort together and their primary-key inserts land on the same index
/// pages rather than all over the index (random version-4 ids cost an import about a sixth more).
/// Not `Sendable`-shared: one generator per writer.
public struct TimeOrderedIDs {
    private var lastMillisecond: UInt64 = 0
    private var counter: UInt16 = 0
    private var random = SystemRandomNumberGenerator()

    public init() {}

    /// The next id; later calls return larger ids (when the clock steps back, the last millisecond
    /// goes on being used, so order holds).
    public mutating func next(now: Date = Date()) -> UUID {
        let millisecond = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        if millisecond > lastMillisecond {
            lastMillisecond = millisecond
            counter = UInt16.random(in: 0..<0x400, using: &random)  // room left in the millisecond
        } else if counter < 0xFFF {
            counter += 1
        } else {
            lastMillisecond += 1  // 4,096 ids in one millisecond: borrow the next one
            counter = 0
        }
        let tail = random.next() as UInt64
        let t = lastMillisecond
        return UUID(uuid: (
            UInt8(truncatingIfNeeded: t >> 40), UInt8(truncatingIfNeeded: t >> 32), UInt8(truncatingIfNeeded: t >> 24),
            UInt8(truncatingIfNeeded: t >> 16), UInt8(truncatingIfNeeded: t >> 8), UInt8(truncatingIfNeeded: t),
            0x70 | UInt8(counter >> 8), UInt8(truncatingIfNeeded: counter),
            0x80 | UInt8(truncatingIfNeeded: tail >> 58), UInt8(truncatingIfNeeded: tail >> 48), UInt8(truncatingIfNeeded: tail >> 40),
            UInt8(truncatingIfNeeded: tail >> 32), UInt8(truncatingIfNeeded: tail >> 24), UInt8(truncatingIfNeeded: tail >> 16),
            UInt8(truncatingIfNeeded: tail >> 8), UInt8(truncatingIfNeeded: tail)
        ))
    }
}
