import Cryptography
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
public import Sandbox
import Synchronization

/// An S3-compatible object store: path-style buckets and objects under `/s3/<bucket>/<key>`,
/// every request checked for an AWS Signature V4 (header or presigned URL) with the test
/// credentials. PutObject, GetObject (with `Range`), HeadObject, DeleteObject, CreateBucket and
/// multipart uploads (create, upload part, complete with S3's checks, abort), with S3's XML
/// errors. Objects live in memory. ETags are opaque here (S3's are MD5 digests).
public struct S3StandIn: StandIn {
    public struct Configuration: Sendable {
        public var accessKeyID = "AKIANEXASANDBOX00000"
        public var secretAccessKey = "nexa-sandbox-s3-secret-key-0000000000000"
        public var region = "us-east-1"
        /// Buckets that exist from the start.
        public var buckets = ["nexa"]
        /// S3's smallest part, except the last.
        public var minimumPartSize = 5 * 1024 * 1024
        public init() {}
    }

    public let name = "s3"
    public let configuration: Configuration
    let store: S3Store

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        store = S3Store(buckets: configuration.buckets)
    }

    public var startupSummary: String {
        "S3-compatible store, region \(configuration.region), access key \(configuration.accessKeyID), "
            + "secret \(configuration.secretAccessKey), buckets \(configuration.buckets.joined(separator: ", "))"
    }

    public var maximumRequestBody: Int { 64 * 1024 * 1024 }

    public func faultResponse(status: Int) -> (body: JSON, headers: [(String, String)]) {
        (["Error": ["Code": status == 503 ? "SlowDown" : "InternalError", "Message": .string("injected failure (\(status))")]], [])
    }

    public func addRoutes(to group: RouterGroup<SandboxContext>) {
        let api = S3API(configuration: configuration, store: store)
        for method in [HTTPRequest.Method.get, .head, .put, .post, .delete] {
            // `**` matches the bucket alone (CreateBucket) and everything under it.
            group.on("**", method: method) { request, _ in await api.serve(request) }
        }
    }

    public func addControlRoutes(to group: RouterGroup<SandboxContext>) {
        let store = self.store
        group.get("objects") { _, _ in
            Response.json(.array(store.objects().map { ["bucket": .string($0.bucket), "key": .string($0.key), "size": .int(Int64($0.size))] }))
        }
    }

    static func xmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// Buckets, objects and multipart uploads, in memory.
final class S3Store: Sendable {
    struct Object {
        var bytes: [UInt8]
        var etag: String
        var modified: Date
    }

    struct Upload {
        var bucket: String
        var key: String
        var parts: [Int: (bytes: [UInt8], etag: String)] = [:]
    }

    private struct State {
        var buckets: [String: [String: Object]] = [:]
        var uploads: [String: Upload] = [:]
    }

    private let state: Mutex<State>

    init(buckets: [String]) {
        state = Mutex(State(buckets: Dictionary(uniqueKeysWithValues: buckets.map { ($0, [:]) })))
    }

    func withState<R>(_ body: (inout [String: [String: Object]], inout [String: Upload]) throws(S3Error) -> R) throws(S3Error) -> R {
        try state.withLock { (state: inout State) throws(S3Error) -> R in try body(&state.buckets, &state.uploads) }
    }

    func objects() -> [(bucket: String, key: String, size: Int)] {
        state.withLock { state in
            state.buckets.flatMap { bucket, objects in objects.map { (bucket, $0.key, $0.value.bytes.count) } }.sorted { ($0.bucket, $0.key) < ($1.bucket, $1.key) }
        }
    }

    static func etag(_ bytes: [UInt8]) -> String { "\"" + Digest.hex(Digest.sha256(bytes).prefix(16)) + "\"" }
}
