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

    /// Streams `chunks` into a new blob under `prefix`; returns its key and size.
    /// - Throws: `tooLarge` past `limit` bytes (the partial file is removed).
    public func write(prefix: String, fileExtension: String, limit: Int,
                      chunks: some AsyncSequence<[UInt8], any Error>) async throws -> (key: String, size: Int) {
        let key = "\(prefix)/\(UUID().uuidString.lowercased()).\(fileExtension)"
        let final = try url(key)
        try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = final.appendingPathExtension("partial")
        FileManager.default.createFile(atPath: partial.path, contents: nil)
        let handle = try FileHandle(forWritingTo: partial)
        var size = 0
        do {
            for try await chunk in chunks {
                size += chunk.count
                guard size <= limit else { throw TooLarge(limit: limit) }
                try handle.write(contentsOf: chunk)
            }
            try handle.synchronize()
            try handle.close()
            try FileManager.default.moveItem(at: partial, to: final)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
        return (key, size)
    }

    public struct TooLarge: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "the file is larger than \(limit) bytes" }
    }
}
