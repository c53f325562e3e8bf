@testable import EmailCalendar
import Synchronization
import TestSupport
import Testing

/// A burst of callers for one key costs two passes: the running one, and one queued after it
/// that every later caller shares; another key runs on its own.
@Suite(.hangGuard) struct SinglePassTests {
    /// Counts passes per key; a gated pass waits until the test opens the gate.
    final class Passes: Sendable {
        let runs = Mutex<[String: Int]>([:])
        let gate: AsyncStream<Void>
        let open: AsyncStream<Void>.Continuation

        init() { (gate, open) = AsyncStream<Void>.makeStream() }

        func body(_ key: String, gated: Bool = false) -> @Sendable () async throws -> Int {
            { [self] in
                let n = runs.withLock { runs in runs[key, default: 0] += 1; return runs[key]! }
                if gated { for await _ in gate { break } }
                return n
            }
        }
    }

    @Test func aBurstSharesTheQueuedPassAndOtherKeysAreNotHeldUp() async throws {
        let single = SinglePass<String, Int>()
        let passes = Passes()
        let first = Task { try await single.run("ana", passes.body("ana", gated: true)) }
        try await Wait.until("the first pass runs") { passes.runs.withLock { $0["ana"] } == 1 }
        // While it runs: five more callers for the same key (waiting), and one for another key (not held up).
        let burst = (0..<5).map { _ in Task { try await single.run("ana", passes.body("ana")) } }
        try await Wait.until("the five wait") { single.waiting(for: "ana") == 6 }
        #expect(try await single.run("bob", passes.body("bob")) == 1)
        passes.open.yield()
        #expect(try await first.value == 1)
        var shared: [Int] = []
        for task in burst { shared.append(try await task.value) }
        #expect(shared == [2, 2, 2, 2, 2])  // all five shared the second pass
        #expect(passes.runs.withLock { $0 } == ["ana": 2, "bob": 1])
        #expect(try await single.run("ana", passes.body("ana")) == 3)  // later: a pass of its own
    }
}
