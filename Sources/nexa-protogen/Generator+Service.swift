import ProtoSchema

extension Generator {
    /// Methods every service has, served by the runtime's `StandardMethods`, keyed by input type.
    static let standardMethods: [String: String] = [
        "nexa.rpc.v1.HealthCheckRequest": "StandardMethods.check",
        "nexa.rpc.v1.ListMethodsRequest": "StandardMethods.listMethods",
        "nexa.rpc.v1.EchoRequest": "StandardMethods.echo",
    ]

    /// Read-only methods are safe to retry; the name says which (documented in PROTOCOL.md).
    static func isIdempotent(_ method: String) -> Bool {
        ["Get", "List", "Check", "Echo"].contains { method.hasPrefix($0) }
    }

    func service(_ s: Schema.Service) throws -> String {
        let namespace = Naming.namespace(forPackage: s.package)
        let inputs = Set(schema.messages.filter { msg in
            guard let first = msg.fields.first, first.number == 1 else { return false }
            if case .message("nexa.rpc.v1.RequestContext") = first.kind { return true }
            return false
        }.map(\.fullName))
        for m in s.methods where !inputs.contains(m.inputType) {
            throw GeneratorError("\(s.fullName).\(m.name): field 1 of \(m.inputType) must be nexa.rpc.v1.RequestContext context")
        }
        let domain = s.methods.enumerated().filter { Self.standardMethods[$0.element.inputType] == nil }

        var out = Self.header + "\npublic import RPC\n\n"
        out += "extension \(namespace) {\n"
        out += "    /// The service `\(s.fullName)`: descriptor, handler protocol, server adapter and client.\n"
        out += "    public enum \(s.shortName) {\n"
        out += "        /// Methods in wire order (append only).\n"
        out += "        public static let descriptor = ServiceDescriptor(\n"
        out += "            name: \"\(s.fullName)\",\n            methods: [\n"
        for (i, m) in s.methods.enumerated() {
            let isPublic = m.inputType == "nexa.rpc.v1.HealthCheckRequest"
            out += "                MethodDescriptor(\n"
            out += "                    index: \(i), name: \"\(m.name)\", inputType: \"\(m.inputType)\", outputType: \"\(m.outputType)\",\n"
            out += "                    isIdempotent: \(Self.isIdempotent(m.name)), isPublic: \(isPublic)\n"
            out += "                ),\n"
        }
        out += "            ]\n        )\n\n"

        // Handler protocol: one requirement per domain method, UNIMPLEMENTED until a service provides it.
        out += "        /// What a service implements. Methods it does not implement answer UNIMPLEMENTED.\n"
        out += "        public protocol Handler: Sendable {\n"
        for (_, m) in domain {
            out += "            func \(Naming.method(m.name))(_ request: \(resolve(m.inputType)), context: ServerContext) async throws\n"
            out += "                -> \(resolve(m.outputType))\n"
        }
        out += "        }\n\n"

        // Server adapter.
        out += "        /// Serves a `Handler` over any transport.\n"
        out += "        public struct Server<H: Handler>: ServerService {\n"
        out += "            public let handler: H\n"
        out += "            public var descriptor: ServiceDescriptor { \(s.shortName).descriptor }\n\n"
        out += "            public init(handler: H) { self.handler = handler }\n\n"
        out += "            public func handle(methodIndex: UInt32, request: [UInt8], environment: ServerEnvironment) async\n"
        out += "                -> ServerResult\n            {\n"
        out += "                switch methodIndex {\n"
        for (i, m) in s.methods.enumerated() {
            out += "                case \(i):\n"
            out += "                    return await ServerCall.run(\n"
            out += "                        request, as: \(resolve(m.inputType)).self, method: descriptor.methods[\(i)], service: descriptor,\n"
            out += "                        environment: environment\n"
            if let standard = Self.standardMethods[m.inputType] {
                out += "                    ) { request, context in try await \(standard)(request, context: context, service: descriptor, environment: environment) }\n"
            } else {
                out += "                    ) { request, context in try await handler.\(Naming.method(m.name))(request, context: context) }\n"
            }
        }
        out += "                default:\n"
        out += "                    return ServerCall.unknownMethod(methodIndex, service: descriptor)\n"
        out += "                }\n            }\n        }\n\n"

        // Client.
        out += "        /// A typed client over any transport.\n"
        out += "        public struct Client<Transport: ClientTransport>: Sendable {\n"
        out += "            public let transport: Transport\n\n"
        out += "            public init(transport: Transport) { self.transport = transport }\n"
        for (i, m) in s.methods.enumerated() {
            out += "\n            public func \(Naming.method(m.name))(\n"
            out += "                _ request: \(resolve(m.inputType)) = .init(), options: CallOptions = .init()\n"
            out += "            ) async throws -> \(resolve(m.outputType)) {\n"
            out += "                try await ClientCall.run(request, method: descriptor.methods[\(i)], transport: transport, options: options)\n"
            out += "            }\n"
        }
        out += "\n            /// Calls a method by name with a JSON request, returning JSON (for `nexactl call`).\n"
        out += "            public func callJSON(_ method: String, json: [UInt8], options: CallOptions = .init()) async throws -> [UInt8] {\n"
        out += "                switch method {\n"
        for (i, m) in s.methods.enumerated() {
            out += "                case \"\(m.name)\":\n"
            out += "                    return try await ClientCall.runJSON(\n"
            out += "                        json, as: \(resolve(m.inputType)).self, returning: \(resolve(m.outputType)).self,\n"
            out += "                        method: descriptor.methods[\(i)], transport: transport, options: options\n"
            out += "                    )\n"
        }
        out += "                default:\n"
        out += "                    throw RPCError(.unimplemented, \"\\(descriptor.name) has no method \\(method)\")\n"
        out += "                }\n            }\n\n"
        out += "            private var descriptor: ServiceDescriptor { \(s.shortName).descriptor }\n"
        out += "        }\n    }\n}\n"

        if !domain.isEmpty {
            out += "\nextension \(namespace).\(s.shortName).Handler {\n"
            for (_, m) in domain {
                out += "    public func \(Naming.method(m.name))(_ request: \(resolve(m.inputType)), context: ServerContext) async throws\n"
                out += "        -> \(resolve(m.outputType))\n    {\n"
                out += "        throw RPCError(.unimplemented, \"\(s.fullName).\(m.name) is not implemented yet\")\n    }\n"
            }
            out += "}\n"
        }
        return out
    }
}
