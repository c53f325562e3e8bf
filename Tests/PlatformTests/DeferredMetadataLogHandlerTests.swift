import Logging
import Platform
import Synchronization
import TestSupport
import Testing

@Suite(.hangGuard) struct DeferredMetadataLogHandlerTests {
    /// Records what reaches it.
    struct Recorder: LogHandler {
        let box: Box
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            box.lines.withLock { $0.append(("\(event.message)", event.metadata)) }
        }
    }

    final class Box: Sendable { let lines = Mutex<[(String, Logger.Metadata?)]>([]) }

    @Test func metadataSetOnTheLoggerReachesEveryMessageMergedWithTheMessagesOwn() {
        let box = Box()
        var logger = Logger(label: "test") { _ in
            var handler = DeferredMetadataLogHandler(Recorder(box: box))
            handler.logLevel = .info
            return handler
        }
        logger.debug("below the level")
        logger.info("bare")
        logger[metadataKey: "request"] = "r1"
        logger[metadataKey: "user"] = "u1"
        logger.info("set", metadata: ["user": "u2", "extra": "x"])
        #expect(logger[metadataKey: "request"] == "r1")
        let lines = box.lines.withLock { $0 }
        #expect(lines.map(\.0) == ["bare", "set"])
        #expect(lines[0].1 == nil)
        #expect(lines[1].1 == ["request": "r1", "user": "u2", "extra": "x"])
    }
}
