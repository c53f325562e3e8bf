public import Foundation
import NIOPosix

/// Blobs in a local folder (shared by the gateway and the data transfer service on one host).
/// Writes go to a temporary name, are synced and renamed when complete. Disk writes, syncs and
/// renames run on NIO's blocking-I/O thread pool, never on the caller's (cooperative) thread.
public struct LocalBlobStore: BlobStore {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// `NEXA_BLOB_DIR`, by default `.data/blobs` below the working directory.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> LocalBlobStore {
        LocalBlobStore(root: URL(fileURLWithPath: environment["NEXA_BLOB_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".data/blobs"))
    }

    /// The file of `key`.
    public func url(_ key: String) throws(BlobStoreError) -> URL {
        guard !key.isEmpty, !key.contains(".."), !key.hasPrefix("/") else { throw .invalidKey(key) }
        return root.appendingPathComponent(key)
    }

    public func create<R: Sendable>(prefix: String, fileExtension: String,
                                    _ body: (FileHandle) async throws -> R) async throws -> (key: String, result: R) {
        let key = BlobKeys.new(prefix: prefix, fileExtension: fileExtension)
        let final = try url(key)
        let partial = final.appendingPathExtension("partial")
        let handle = try await Self.blocking {
            try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: partial.path, contents: nil)
            return try FileHandle(forWritingTo: partial)
        }
        do {
            let result = try await body(handle)
            try await Self.blocking {
                try handle.synchronize()
                try handle.close()
                try FileManager.default.moveItem(at: partial, to: final)
            }
            return (key, result)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }

    public func write(prefix: String, fileExtension: String, limit: Int,
                      chunks: some AsyncSequence<[UInt8], any Error>) async throws -> (key: String, size: Int) {
        let (key, size) = try await create(prefix: prefix, fileExtension: fileExtension) { handle in
            var size = 0
            for try await chunk in chunks {
                size += chunk.count
                guard size <= limit else { throw BlobStoreError.tooLarge(limit: limit) }
                try await Self.blocking { try handle.write(contentsOf: chunk) }
            }
            return size
        }
        return (key, size)
    }

    public func withLocalFile<R: Sendable>(_ key: String, _ body: (URL) async throws -> R) async throws -> R {
        let file = try url(key)
        guard FileManager.default.fileExists(atPath: file.path) else { throw BlobStoreError.notFound(key: key) }
        return try await body(file)
    }

    public func exists(_ key: String) async throws -> Bool {
        FileManager.default.fileExists(atPath: try url(key).path)
    }

    public func download(_ key: String, filename: String, validFor: Duration) async throws -> BlobDownload {
        let file = try url(key)
        guard FileManager.default.fileExists(atPath: file.path) else { throw BlobStoreError.notFound(key: key) }
        return .file(file)
    }
}

extension LocalBlobStore {
    /// Runs blocking file work on NIO's shared blocking-I/O pool.
    static func blocking<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}

/// Blob keys: `<prefix>/<random uuid>.<extension>`. A workspace's files live under a prefix that
/// names it (`imports/<workspace>`), so a key handed to one workspace's caller is refused for another.
public enum BlobKeys {
    static func new(prefix: String, fileExtension: String) -> String {
        "\(prefix)/\(UUID().uuidString.lowercased()).\(fileExtension)"
    }

    /// The prefix of `area`'s files of `workspace` (`imports/<workspace>`, `exports/<workspace>/contacts`).
    public static func prefix(_ area: String, workspace: UUID, _ rest: String? = nil) -> String {
        "\(area)/\(workspace.uuidString.lowercased())" + (rest.map { "/\($0)" } ?? "")
    }

    /// Whether `key` is one of `workspace`'s files: its second segment names the workspace, and no
    /// segment is empty, `.` or `..` (which could lead out of it).
    public static func key(_ key: String, belongsTo workspace: UUID) -> Bool {
        let segments = key.split(separator: "/", omittingEmptySubsequences: false)
        return segments.count >= 3 && segments[1] == workspace.uuidString.lowercased()[...]
            && !segments.contains { $0.isEmpty || $0 == "." || $0 == ".." }
    }
}
