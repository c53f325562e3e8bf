public import Foundation

/// Where uploaded and exported files live: a local folder (shared by the gateway and this
/// service on one host), keyed by a relative name. Writes go to a temporary name and are renamed
/// when complete, so a key never names half a file.
public struct LocalBlobStore: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// `NEXA_BLOB_DIR`, by default `.data/blobs` below the working directory.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> LocalBlobStore {
        LocalBlobStore(root: URL(fileURLWithPath: environment["NEXA_BLOB_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".data/blobs"))
    }

    public func url(_ key: String) throws -> URL {
        guard !key.isEmpty, !key.contains(".."), !key.hasPrefix("/") else { throw CocoaError(.fileReadInvalidFileName) }
        return root.appendingPathComponent(key)
    }

    /// A new blob under `prefix`, written by `body`. It is written under a temporary name, synced
    /// and renamed when `body` returns; when `body` throws, the partial file is removed.
    public func create<R>(prefix: String, fileExtension: String, _ body: (FileHandle) async throws -> R) async throws -> (key: String, result: R) {
        let key = "\(prefix)/\(UUID().uuidString.lowercased()).\(fileExtension)"
        let final = try url(key)
        try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = final.appendingPathExtension("partial")
        FileManager.default.createFile(atPath: partial.path, contents: nil)
        let handle = try FileHandle(forWritingTo: partial)
        do {
            let result = try await body(handle)
            try handle.synchronize()
            try handle.close()
            try FileManager.default.moveItem(at: partial, to: final)
            return (key, result)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }

    /// Streams `chunks` into a new blob under `prefix`; returns its key and size.
    /// - Throws: `tooLarge` past `limit` bytes (the partial file is removed).
    public func write(prefix: String, fileExtension: String, limit: Int,
                      chunks: some AsyncSequence<[UInt8], any Error>) async throws -> (key: String, size: Int) {
        let (key, size) = try await create(prefix: prefix, fileExtension: fileExtension) { handle in
            var size = 0
            for try await chunk in chunks {
                size += chunk.count
                guard size <= limit else { throw TooLarge(limit: limit) }
                try handle.write(contentsOf: chunk)
            }
            return size
        }
        return (key, size)
    }

    public struct TooLarge: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "the file is larger than \(limit) bytes" }
    }
}
