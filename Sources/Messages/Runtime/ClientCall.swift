import Foundation
public import RPC

/// The client side of one generated method: fill the context, send, decode.
public enum ClientCall {
    public static func run<Input: ContextCarrying, Output: ProtoMessage>(
        _ request: Input, method: MethodDescriptor, transport: some ClientTransport, options: CallOptions
    ) async throws -> Output {
        var request = request
        request.context = RPCV1.RequestContext(options.metadata(merging: CallMetadata(request.context ?? .init())))
        let response = try await transport.unary(method, request: request.serializedBytes(), options: options)
        do {
            return try Output(serializedBytes: response)
        } catch {
            throw RPCError(.internalError, "the response is not a valid \(Output.protoName)")
        }
    }

    /// `run` with the request and response as proto3 JSON.
    public static func runJSON<Input: ContextCarrying, Output: ProtoMessage>(
        _ json: [UInt8], as: Input.Type, returning: Output.Type, method: MethodDescriptor,
        transport: some ClientTransport, options: CallOptions
    ) async throws -> [UInt8] {
        let request: Input
        do {
            request = try JSONDecoder().decode(Input.self, from: Data(json.isEmpty ? Array("{}".utf8) : json))
        } catch {
            throw RPCError(.invalidArgument, "the JSON is not a valid \(Input.protoName): \(error)")
        }
        let response: Output = try await run(request, method: method, transport: transport, options: options)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(response))
    }
}

extension CallMetadata {
    /// The wire context as a plain value.
    public init(_ context: RPCV1.RequestContext) {
        self.init(
            workspaceID: context.workspaceID, apiKey: context.apiKey, timeoutMilliseconds: context.timeoutMs,
            requestID: context.requestID, traceparent: context.traceparent, wantsRichErrors: context.richErrors
        )
    }
}

extension RPCV1.RequestContext {
    /// The wire form of call metadata.
    public init(_ metadata: CallMetadata) {
        self.init()
        workspaceID = metadata.workspaceID
        apiKey = metadata.apiKey
        timeoutMs = metadata.timeoutMilliseconds
        requestID = metadata.requestID
        traceparent = metadata.traceparent
        richErrors = metadata.wantsRichErrors
    }
}

extension RPCV1.Status {
    /// The wire form of an error (a rich-error body).
    public init(_ error: RPCError) {
        self.init()
        code = Int32(error.code.rawValue)
        message = error.message
    }
}
