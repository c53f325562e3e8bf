import CRM
import Foundation
import TestSupport
import Testing

/// UUID version 7 as RFC 9562 lays it out, and in order however fast or backwards the clock goes.
@Suite(.hangGuard) struct TimeOrderedIDsTests {
    @Test func idsCarryTheirMillisecondVersionAndVariant() {
        var ids = TimeOrderedIDs()
        let now = Date(timeIntervalSince1970: 1_767_225_600.125)  // 2026-01-01T00:00:00.125Z
        let id = ids.next(now: now)
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        let millisecond = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(millisecond == 1_767_225_600_125)
        #expect(bytes[6] >> 4 == 7)  // version
        #expect(bytes[8] >> 6 == 0b10)  // RFC 9562 variant
        #expect(id.uuidString.lowercased().hasPrefix("019b76da-a87d-7"))
    }

    @Test func idsRiseWithinAMillisecondPastItsCounterAndWhenTheClockStepsBack() {
        var ids = TimeOrderedIDs()
        let t = Date(timeIntervalSince1970: 1_767_225_600)
        var made: [UUID] = []
        for _ in 0..<10_000 { made.append(ids.next(now: t)) }  // more than the 4,096 a millisecond holds
        made.append(ids.next(now: t.addingTimeInterval(-5)))  // the clock stepped back
        made.append(ids.next(now: t.addingTimeInterval(1)))
        let ordered = zip(made, made.dropFirst()).allSatisfy { $0.uuidString < $1.uuidString }
        #expect(ordered)
        #expect(Set(made).count == made.count)
    }
}
