import NIOCore
import NIOPosix
public import Testing

/// Waiting for a state instead of for a time: a test names what it waits for and how long it may
/// take at most, and fails with that name when the deadline passes.
public enum Wait {
    /// The state did not come about in time.
    public struct TimedOut: Error, CustomStringConvertible {
        public var what: String
        public var limit: Duration
        public var description: String { "timed out after \(limit) waiting until \(what)" }

        public init(what: String, limit: Duration) {
            self.what = what
            self.limit = limit
        }
    }

    /// Returns once `condition` holds; checks it every few milliseconds.
    /// - Parameters:
    ///   - what: the state waited for, in words (it names the failure).
    ///   - limit: a deadline generous enough for a loaded 2-core machine: it only bounds a hang.
    /// - Throws: `TimedOut` when `condition` still does not hold after `limit`.
    public static func until(
        _ what: String, within limit: Duration = .seconds(60), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what, limit: limit) }
            try await pause()
        }
    }

    /// A few milliseconds, timed by a NIO event loop rather than by `Task.sleep`. A stalled suite
    /// (every test suspended, no thread busy, no time limit reported) still had its event loops'
    /// timers firing; the cause of that stall is not established, and this keeps the suite's own
    /// waiting independent of Dispatch's timers meanwhile.
    private static func pause() async throws {
        try Task.checkCancellation()
        try await MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .milliseconds(5)) {}.futureResult.get()
    }

    /// Returns the first non-nil value `produce` gives, checking every few milliseconds.
    /// - Throws: `TimedOut` when it gives none within `limit`.
    public static func value<T>(
        _ what: String, within limit: Duration = .seconds(60), _ produce: () async throws -> T?
    ) async throws -> T {
        var value: T?
        try await until(what, within: limit) {
            value = try await produce()
            return value != nil
        }
        return value!
    }
}

extension Trait where Self == TimeLimitTrait {
    /// Every suite's deadline for each of its tests: a hung test fails under its own name instead
    /// of stopping the suite. Far above any test's time on a loaded machine; it bounds hangs only.
    public static var hangGuard: Self { .timeLimit(.minutes(4)) }
}
