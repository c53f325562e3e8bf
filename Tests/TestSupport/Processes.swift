import Dispatch
import Synchronization
public import Foundation
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

    /// A loopback port for a child process to listen on: free right now, below the kernel's
    /// ephemeral range and never handed out twice by this process.
    ///
    /// The kernel's own pick (bind to port 0) comes from the ephemeral range, which every outgoing
    /// connection of every test running in parallel also draws from: between this call and the
    /// child's bind, such a connection could take the port. Below that range only another caller of
    /// this function could, and it never gets the same port.
    public static func freePort() -> Int {
        let firstEphemeral = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: \.isWhitespace).first }.flatMap { Int($0) } ?? 32768
        let range = firstEphemeral > 12_000 ? (firstEphemeral - 10_000)..<firstEphemeral : 61_000..<65_000
        while true {
            let port = Int.random(in: range)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if canBind(port) { return port }
        }
    }

    /// Ports this process has handed out (tests share one process; a lock guards the set).
    private static let handedOut = Mutex<Set<Int>>([])

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
    }
}

extension Process {
    /// Waits for the process to end on a Dispatch thread, never holding one of the cooperative
    /// pool's few threads (which every other test running in parallel needs); returns its status.
    public func exit() async -> Int32 {
        let process = self
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }
        }
    }
}

extension Processes {
    /// Starts `executable` in the background with `environment`, its standard output discarded
    /// (standard error, where services log, stays the test's).
    public static func start(_ executable: String, environment: [String: String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs `executable` with `arguments` to its end; returns its status and what it printed
    /// (standard output and error together). The waiting happens on Dispatch threads.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let reader = pipe.fileHandleForReading
        let output = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)) }
        }
        return (await process.exit(), output)
    }
}
