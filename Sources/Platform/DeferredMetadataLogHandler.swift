public import Logging

/// Keeps a logger's metadata as set and hands it to `inner` only when a message is logged.
///
/// swift-log's `StreamLogHandler` formats its whole metadata every time one key is set, and the
/// HTTP server sets one (the request id) on every request — most of which log nothing.
public struct DeferredMetadataLogHandler: LogHandler {
    private var inner: any LogHandler
    public var metadata: Logger.Metadata = [:]

    public init(_ inner: any LogHandler) { self.inner = inner }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        let merged = event.metadata.map { metadata.merging($0) { _, explicit in explicit } } ?? metadata
        event.metadata = merged.isEmpty ? nil : merged
        inner.log(event: event)
    }
}
