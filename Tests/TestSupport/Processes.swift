import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// For tests that run the real executables: where they are, and ports to give them.
public enum Processes {
    public struct MissingBinary: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "\(path) is not built: run through `make test`, which builds every product first" }
    }

    /// A built executable: in `NEXA_BIN_DIR`, else beside the test bundle, as SwiftPM lays them out.
    public static func binary(_ name: String) throws -> String {
        let folder = ProcessInfo.processInfo.environment["NEXA_BIN_DIR"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let path = folder + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingBinary(path: path) }
        return path
    }

    /// A loopback port free right now (the kernel's pick for a socket bound to port 0).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
