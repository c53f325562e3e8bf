import NIOCore

/// Runs Swift tasks on a NIO event loop. The server starts each call's task here, on its
/// connection's loop, so a call that does not block costs no thread hop in or out.
///
/// Handlers must not block (no blocking C calls; the store runs libpq on its own threads).
final class EventLoopExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `loop` is immutable and EventLoop is Sendable; the class holds nothing else.
    private let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
