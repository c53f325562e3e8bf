public import Logging
public import Postgres

/// The loop behind every queue worker: a pass runs whenever `NOTIFY <channel>` arrives, and every
/// `pollInterval` in case a notification was missed (a reconnect, a writer in another process
/// that crashed before notifying); passes repeat while they find work. Runs until cancelled.
public enum NotifiedLoop {
    /// - Parameter pass: does one batch of work and returns how many items it took.
    public static func run(
        db: PostgresClient, channel: String, pollInterval: Duration, logger: Logger, pass: @escaping @Sendable () async -> Int
    ) async {
        let wakeups = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await _ in db.notifications(channels: [channel]) { wakeups.continuation.yield() }
                } catch {
                    logger.warning("notifications stopped; polling only", metadata: ["channel": "\(channel)", "error": "\(error)"])
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    wakeups.continuation.yield()
                }
            }
            group.addTask {
                for await _ in wakeups.stream {
                    while !Task.isCancelled, await pass() > 0 {}
                }
            }
            // Cancellation reaches every child: the streams end and the loops return.
            await group.waitForAll()
        }
    }
}
