public import Hummingbird
public import NIOCore

/// The request context of every stand-in route: Hummingbird's basics plus the connection, so a
/// fault can drop it without answering.
public struct SandboxContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's connection.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
