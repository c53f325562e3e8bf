/// How proto names become Swift names.
enum Naming {
    /// `nexa.rpc.v1` → `RPCV1`, `nexa.email_calendar.v1` → `EmailCalendarV1`.
    static func namespace(forPackage package: String) -> String {
        package.split(separator: ".").dropFirst().map { part in
            part == "rpc" ? "RPC" : part.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        }.joined()
    }

    /// `nexa.rpc.v1.Outer.Inner` in package `nexa.rpc.v1` → `RPCV1.Outer.Inner`.
    static func typeName(_ fullName: String, package: String) -> String {
        namespace(forPackage: package) + "." + fullName.dropFirst(package.count + 1)
    }

    /// The package part of a fully qualified name, given the set of known packages.
    static func package(of fullName: String, among packages: Set<String>) -> String {
        var parts = fullName.split(separator: ".").map(String.init)
        while !parts.isEmpty {
            parts.removeLast()
            if packages.contains(parts.joined(separator: ".")) { return parts.joined(separator: ".") }
        }
        fatalError("no package for \(fullName)")
    }

    /// `workspace_id` → `workspaceID` (Swift API naming: initialisms stay upper case).
    static func property(_ protoName: String) -> String {
        let parts = protoName.split(separator: "_").map(String.init)
        var result = parts.first ?? protoName
        for part in parts.dropFirst() {
            result += initialisms.contains(part) ? part.uppercased() : part.prefix(1).uppercased() + part.dropFirst()
        }
        return keywords.contains(result) ? "`\(result)`" : result
    }

    /// Proto3 JSON name: `workspace_id` → `workspaceId`.
    static func jsonName(_ protoName: String) -> String {
        let parts = protoName.split(separator: "_").map(String.init)
        return (parts.first ?? protoName) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// `SERVING_STATUS_NOT_SERVING` of enum `ServingStatus` → `notServing`.
    static func enumCase(_ valueName: String, enumShortName: String) -> String {
        let prefix = screamingSnake(enumShortName) + "_"
        let trimmed = valueName.hasPrefix(prefix) && valueName.count > prefix.count
            ? String(valueName.dropFirst(prefix.count)) : valueName
        let parts = trimmed.lowercased().split(separator: "_").map(String.init)
        let name = (parts.first ?? trimmed) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        let safe = name.first?.isNumber == true ? "_" + name : name
        return keywords.contains(safe) ? "`\(safe)`" : safe
    }

    /// `DealClosed` → `dealClosed`.
    static func method(_ protoName: String) -> String {
        protoName.prefix(1).lowercased() + protoName.dropFirst()
    }

    static func screamingSnake(_ camel: String) -> String {
        var result = ""
        for (i, ch) in camel.enumerated() {
            if ch.isUppercase, i > 0 { result += "_" }
            result += ch.uppercased()
        }
        return result
    }

    /// Descriptor symbol `nexa__rpc__v1__echo_request__descriptor` → `nexa__rpc__v1__echo_request`.
    static func cFunctionPrefix(descriptorSymbol: String) -> String {
        String(descriptorSymbol.dropLast("__descriptor".count))
    }

    private static let initialisms: Set<String> = ["id", "url", "uri", "ids", "api"]
    private static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows", "static",
        "struct", "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do",
        "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where", "while",
        "as", "Any", "catch", "false", "is", "nil", "super", "self", "Self", "throw", "throws", "true", "try",
        "Type", "Protocol", "package",
    ]
}
