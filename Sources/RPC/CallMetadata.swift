/// The caller's request context as it travels in field 1 of every request
/// (`nexa.rpc.v1.RequestContext`), as a plain value.
public struct CallMetadata: Hashable, Sendable {
    public var workspaceID: String
    public var apiKey: String
    /// Remaining budget in milliseconds when sent; 0 means none.
    public var timeoutMilliseconds: UInt64
    public var requestID: String
    public var traceparent: String
    public var wantsRichErrors: Bool

    public init(
        workspaceID: String = "", apiKey: String = "", timeoutMilliseconds: UInt64 = 0,
        requestID: String = "", traceparent: String = "", wantsRichErrors: Bool = false
    ) {
        self.workspaceID = workspaceID
        self.apiKey = apiKey
        self.timeoutMilliseconds = timeoutMilliseconds
        self.requestID = requestID
        self.traceparent = traceparent
        self.wantsRichErrors = wantsRichErrors
    }
}

extension CallMetadata: CustomStringConvertible {
    /// Never shows the API key.
    public var description: String {
        "CallMetadata(workspace: \(workspaceID), request: \(requestID), timeout: \(timeoutMilliseconds) ms, "
            + "apiKey: \(apiKey.isEmpty ? "none" : "<redacted>"))"
    }
}
