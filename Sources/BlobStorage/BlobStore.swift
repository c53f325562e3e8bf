public import Foundation

/// Where uploaded and exported files live, keyed by a relative name (`imports/<uuid>.csv`): a
/// local folder (`LocalBlobStore`) or any S3-compatible store (`S3BlobStore`). A key never names
/// half a file: a blob appears only once it is complete.
public protocol BlobStore: Sendable {
    /// Streams `chunks` into a new blob under `prefix`; returns its key and size.
    /// - Throws: `BlobStoreError.tooLarge` past `limit` bytes (nothing is kept).
    func write(prefix: String, fileExtension: String, limit: Int,
               chunks: some AsyncSequence<[UInt8], any Error>) async throws -> (key: String, size: Int)

    /// A new blob under `prefix`, written by `body` through a local file. When `body` throws,
    /// nothing is kept.
    func create<R: Sendable>(prefix: String, fileExtension: String,
                             _ body: (FileHandle) async throws -> R) async throws -> (key: String, result: R)

    /// Runs `body` with a local file holding the blob (a remote store's blob is downloaded first
    /// and the copy removed afterwards).
    /// - Throws: `BlobStoreError.notFound` when there is no such blob.
    func withLocalFile<R: Sendable>(_ key: String, _ body: (URL) async throws -> R) async throws -> R

    /// Whether the blob exists.
    func exists(_ key: String) async throws -> Bool

    /// How to hand the blob to someone allowed to have it, saved as `filename`: a remote store's
    /// URL lasts `validFor`.
    /// - Throws: `BlobStoreError.notFound` when there is no such blob.
    func download(_ key: String, filename: String, validFor: Duration) async throws -> BlobDownload
}

/// A blob ready to be served: a local file to stream, or a short-lived URL to send the client to.
public enum BlobDownload: Sendable, Hashable {
    case file(URL)
    case redirect(String)
}

public enum BlobStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    case tooLarge(limit: Int)
    case notFound(key: String)
    case invalidKey(String)
    /// The remote store refused a request: its status, error code and message.
    case remote(status: Int, code: String, message: String)

    public var description: String {
        switch self {
        case .tooLarge(let limit): "the file is larger than \(limit) bytes"
        case .notFound(let key): "no blob \(key)"
        case .invalidKey(let key): "not a blob key: \(key)"
        case .remote(let status, let code, let message): "the blob store answered \(status) \(code): \(message)"
        }
    }
}

/// The blob store the settings name: S3-compatible when `NEXA_BLOB_S3_BUCKET` is set, else the
/// local folder `NEXA_BLOB_DIR`.
public enum BlobStores {
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any BlobStore {
        if let configuration = try S3BlobStore.Configuration(environment: environment) {
            return S3BlobStore(configuration: configuration)
        }
        return LocalBlobStore.fromEnvironment(environment)
    }
}
