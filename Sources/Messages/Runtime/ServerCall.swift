public import RPC

/// The server side of one generated method: decode, establish the context, run, encode.
public enum ServerCall {
    public static func run<Input: ContextCarrying, Output: ProtoMessage>(
        _ bytes: [UInt8], as: Input.Type, method: MethodDescriptor, service: ServiceDescriptor,
        environment: ServerEnvironment, body: (Input, ServerContext) async throws -> Output
    ) async -> ServerResult {
        let input: Input
        do {
            input = try Input(serializedBytes: bytes)
        } catch {
            return ServerResult(
                .failure(RPCError(.invalidArgument, "the request body is not a valid \(Input.protoName)")),
                metadata: nil
            )
        }
        let metadata = CallMetadata(input.context ?? .init())
        do {
            let context = try await environment.prepare(metadata, method: method, service: service)
            let output = try await body(input, context)
            return ServerResult(.success(output.serializedBytes()), metadata: metadata)
        } catch {
            var result = ServerResult(.failure(RPCError(converting: error)), metadata: metadata)
            if !(error is RPCError) && !(error is any RPCErrorConvertible) { result.cause = error }
            return result
        }
    }

    /// The answer to a method index the service does not have.
    public static func unknownMethod(_ index: UInt32, service: ServiceDescriptor) -> ServerResult {
        ServerResult(
            .failure(RPCError(.unimplemented, "\(service.name) has no method with index \(index)")),
            metadata: nil
        )
    }
}

/// Health, reflection and echo: served the same way by every service.
public enum StandardMethods {
    public static func check(
        _ request: RPCV1.HealthCheckRequest, context: ServerContext, service: ServiceDescriptor,
        environment: ServerEnvironment
    ) async throws -> RPCV1.HealthCheckResponse {
        var response = RPCV1.HealthCheckResponse()
        if !request.service.isEmpty && request.service != service.name {
            response.status = .serviceUnknown
        } else {
            response.status = environment.health.isServing ? .serving : .notServing
        }
        return response
    }

    public static func listMethods(
        _ request: RPCV1.ListMethodsRequest, context: ServerContext, service: ServiceDescriptor,
        environment: ServerEnvironment
    ) async throws -> RPCV1.ListMethodsResponse {
        var response = RPCV1.ListMethodsResponse()
        response.service = service.name
        response.methods = service.methods.map { m in
            var info = RPCV1.MethodInfo()
            info.index = m.index
            info.name = m.name
            info.inputType = m.inputType
            info.outputType = m.outputType
            return info
        }
        return response
    }

    public static func echo(
        _ request: RPCV1.EchoRequest, context: ServerContext, service: ServiceDescriptor,
        environment: ServerEnvironment
    ) async throws -> RPCV1.EchoResponse {
        var response = RPCV1.EchoResponse()
        response.text = request.text
        response.n = request.n &+ 1
        return response
    }
}
