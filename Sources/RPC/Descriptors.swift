/// One unary method of a service, addressed on the wire by `index`.
public struct MethodDescriptor: Hashable, Sendable {
    /// Position in the service's method list (the wire's `method_index`).
    public var index: UInt32
    /// The proto name, e.g. `DealClosed`.
    public var name: String
    /// Fully qualified message names.
    public var inputType: String
    public var outputType: String
    /// Safe to retry after the request may have reached the server.
    public var isIdempotent: Bool
    /// Callable without an API key (health checks).
    public var isPublic: Bool

    public init(
        index: UInt32, name: String, inputType: String, outputType: String,
        isIdempotent: Bool = false, isPublic: Bool = false
    ) {
        self.index = index
        self.name = name
        self.inputType = inputType
        self.outputType = outputType
        self.isIdempotent = isIdempotent
        self.isPublic = isPublic
    }
}

/// A service: its fully qualified name and its methods in wire order.
public struct ServiceDescriptor: Hashable, Sendable {
    /// e.g. `nexa.billing.v1.BillingService`.
    public let name: String
    public var methods: [MethodDescriptor]
    /// The short name used in configuration and API-key scopes: `BillingService` → `billing`.
    public let shortName: String

    public init(name: String, methods: [MethodDescriptor]) {
        self.name = name
        self.methods = methods
        shortName = Self.shortName(of: name)
    }

    /// The method at a wire index, if any.
    public func method(at index: UInt32) -> MethodDescriptor? {
        Int(index) < methods.count ? methods[Int(index)] : nil
    }

    /// The method with a proto name, if any.
    public func method(named name: String) -> MethodDescriptor? {
        methods.first { $0.name == name }
    }

    private static func shortName(of name: String) -> String {
        let last = name.split(separator: ".").last.map(String.init) ?? name
        let base = last.hasSuffix("Service") ? String(last.dropLast("Service".count)) : last
        var result = ""
        for (i, ch) in base.enumerated() {
            if ch.isUppercase, i > 0 { result += "_" }
            result += ch.lowercased()
        }
        return result
    }
}
