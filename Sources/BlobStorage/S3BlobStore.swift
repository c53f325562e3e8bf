public import CurlHTTP
import Cryptography
public import Foundation

/// Blobs in a bucket of an S3-compatible store (AWS S3, MinIO, Ceph, R2…), path-style
/// (`<endpoint>/<bucket>/<key>`), every request signed with AWS Signature V4 and sent over libcurl.
/// Blobs larger than a part go up as a multipart upload, so memory holds one part at a time;
/// reads come down in ranged parts to a local file. A download link sends the client to a
/// presigned URL.
public struct S3BlobStore: BlobStore {
    public struct Configuration: Sendable, Hashable {
        /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`… (a path prefix is kept).
        public var endpoint: String
        public var bucket: String
        public var region: String
        public var accessKeyID: String
        public var secretAccessKey: String
        /// Size of each part of a multipart upload and of each ranged read (S3's minimum part is 5 MiB).
        public var partSize = 8 * 1024 * 1024
        /// Where downloaded copies are kept while in use.
        public var spoolDirectory = FileManager.default.temporaryDirectory

        public init(endpoint: String, bucket: String, region: String, accessKeyID: String, secretAccessKey: String) {
            self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            self.bucket = bucket
            self.region = region
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
        }

        /// From `NEXA_BLOB_S3_BUCKET`, `NEXA_BLOB_S3_ENDPOINT` (default AWS's regional endpoint),
        /// `NEXA_BLOB_S3_REGION` (default us-east-1), `NEXA_BLOB_S3_ACCESS_KEY_ID`,
        /// `NEXA_BLOB_S3_SECRET_ACCESS_KEY`; nil when no bucket is set.
        public init?(environment: [String: String]) throws(BlobStoreError) {
            func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
            guard let bucket = value("NEXA_BLOB_S3_BUCKET") else { return nil }
            guard let key = value("NEXA_BLOB_S3_ACCESS_KEY_ID"), let secret = value("NEXA_BLOB_S3_SECRET_ACCESS_KEY") else {
                throw .remote(status: 0, code: "Configuration", message: "NEXA_BLOB_S3_BUCKET needs NEXA_BLOB_S3_ACCESS_KEY_ID and NEXA_BLOB_S3_SECRET_ACCESS_KEY")
            }
            let region = value("NEXA_BLOB_S3_REGION") ?? "us-east-1"
            self.init(endpoint: value("NEXA_BLOB_S3_ENDPOINT") ?? "https://s3.\(region).amazonaws.com", bucket: bucket, region: region,
                      accessKeyID: key, secretAccessKey: secret)
        }
    }

    public let configuration: Configuration
    let http: HTTPClient
    let signer: SigV4

    public init(configuration: Configuration, http: HTTPClient = HTTPClient()) {
        self.configuration = configuration
        self.http = http
        signer = SigV4(accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey, region: configuration.region)
    }

    // MARK: BlobStore

    public func write(prefix: String, fileExtension: String, limit: Int,
                      chunks: some AsyncSequence<[UInt8], any Error>) async throws -> (key: String, size: Int) {
        let key = BlobKeys.new(prefix: prefix, fileExtension: fileExtension)
        let upload = Upload(store: self, key: key)
        var buffer: [UInt8] = []
        var size = 0
        do {
            for try await chunk in chunks {
                size += chunk.count
                guard size <= limit else { throw BlobStoreError.tooLarge(limit: limit) }
                buffer += chunk
                while buffer.count >= configuration.partSize {
                    try await upload.part(Array(buffer.prefix(configuration.partSize)))
                    buffer.removeFirst(configuration.partSize)
                }
            }
            try await upload.finish(last: buffer)
        } catch {
            await upload.abort()
            throw error
        }
        return (key, size)
    }

    public func create<R: Sendable>(prefix: String, fileExtension: String,
                                    _ body: (FileHandle) async throws -> R) async throws -> (key: String, result: R) {
        let (file, result) = try await spool(body)
        defer { try? FileManager.default.removeItem(at: file) }
        let (key, _) = try await write(prefix: prefix, fileExtension: fileExtension, limit: .max,
                                       chunks: FileChunks(file: file, chunkSize: configuration.partSize))
        return (key, result)
    }

    public func withLocalFile<R: Sendable>(_ key: String, _ body: (URL) async throws -> R) async throws -> R {
        let (file, _) = try await spool { handle in
            // Ranged reads, one part at a time: the object's size comes with the first.
            var offset = 0
            var total = Int.max
            while offset < total {
                let response = try await send("GET", key: key, headers: [.init("Range", "bytes=\(offset)-\(offset + configuration.partSize - 1)")])
                if response.status == 416, offset == 0 { break }  // an empty object
                guard response.status == 206 || response.status == 200 else { throw Self.failure(response, key: key) }
                try handle.write(contentsOf: response.body)
                offset += response.body.count
                if response.status == 200 { break }
                guard let range = response.header("Content-Range"), let slash = range.lastIndex(of: "/"),
                      let size = Int(range[range.index(after: slash)...]), !response.body.isEmpty else {
                    throw BlobStoreError.remote(status: response.status, code: "InvalidRange", message: "no usable Content-Range")
                }
                total = size
            }
        }
        defer { try? FileManager.default.removeItem(at: file) }
        return try await body(file)
    }

    /// A new file in the spool folder, written by `fill` and closed; the caller removes it. When
    /// `fill` throws, the file is removed here.
    private func spool<R>(_ fill: (FileHandle) async throws -> R) async throws -> (file: URL, result: R) {
        let file = configuration.spoolDirectory.appendingPathComponent("nexa-blob-\(UUID().uuidString.lowercased())")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        do {
            let result = try await fill(handle)
            try handle.close()
            return (file, result)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: file)
            throw error
        }
    }

    public func exists(_ key: String) async throws -> Bool {
        let head = try await send("HEAD", key: key)
        if head.status == 404 { return false }
        guard head.status == 200 else { throw Self.failure(head, key: key) }
        return true
    }

    /// A presigned GET that asks the store to name the file (`response-content-disposition`).
    public func download(_ key: String, filename: String, validFor: Duration) async throws -> BlobDownload {
        guard try await exists(key) else { throw BlobStoreError.notFound(key: key) }
        let disposition = "attachment; filename=\"\(filename.replacingOccurrences(of: "\"", with: ""))\""
        let url = objectURL(key, query: "?response-content-disposition=\(SigV4.encode(disposition))")
        return .redirect(try signer.presignedURL(method: "GET", url: url, at: Date(), expires: validFor))
    }

    // MARK: Requests

    func objectURL(_ key: String, query: String = "") -> String {
        configuration.endpoint + "/" + SigV4.encode(configuration.bucket) + "/" + SigV4.encode(key, keepingSlash: true) + query
    }

    /// One signed request for `key`, retried on network errors, 429 and 5xx (a signature stays
    /// valid for 15 minutes, so a retried request keeps its own).
    func send(_ method: String, key: String, query: String = "", headers: [HTTPClientRequest.Header] = [],
              body: [UInt8]? = nil) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(method: method, url: objectURL(key, query: query), headers: headers, body: body)
        try signer.sign(&request, at: Date())
        return try await http.execute(request, timeout: .seconds(120), retry: .standard)
    }

    static func failure(_ response: HTTPClientResponse, key: String) -> BlobStoreError {
        let code = S3XML.value("Code", in: response.body) ?? "HTTP\(response.status)"
        if response.status == 404, code == "NoSuchKey" || code == "HTTP404" { return .notFound(key: key) }
        return .remote(status: response.status, code: code, message: S3XML.value("Message", in: response.body) ?? response.bodyText)
    }

    /// One object going up: a single PUT when it fits in one part, else a multipart upload
    /// started at the first full part.
    final class Upload: @unchecked Sendable {
        // Used by one writer task at a time.
        let store: S3BlobStore
        let key: String
        private var uploadID: String?
        private var etags: [String] = []

        init(store: S3BlobStore, key: String) {
            self.store = store
            self.key = key
        }

        func part(_ bytes: [UInt8]) async throws {
            if uploadID == nil {
                let started = try await store.send("POST", key: key, query: "?uploads")
                guard started.status == 200, let id = S3XML.value("UploadId", in: started.body) else { throw S3BlobStore.failure(started, key: key) }
                uploadID = id
            }
            let number = etags.count + 1
            let response = try await store.send("PUT", key: key, query: "?partNumber=\(number)&uploadId=\(SigV4.encode(uploadID!))", body: bytes)
            guard response.status == 200, let etag = response.header("ETag") else { throw S3BlobStore.failure(response, key: key) }
            etags.append(etag)
        }

        func finish(last: [UInt8]) async throws {
            guard let uploadID else {
                let response = try await store.send("PUT", key: key, body: last)
                guard response.status == 200 else { throw S3BlobStore.failure(response, key: key) }
                return
            }
            if !last.isEmpty { try await part(last) }
            var xml = "<CompleteMultipartUpload>"
            for (i, etag) in etags.enumerated() { xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(S3XML.escaped(etag))</ETag></Part>" }
            xml += "</CompleteMultipartUpload>"
            let response = try await store.send("POST", key: key, query: "?uploadId=\(SigV4.encode(uploadID))",
                                                headers: [.init("Content-Type", "application/xml")], body: Array(xml.utf8))
            // S3 may answer 200 with an error document when completion fails late.
            guard response.status == 200, S3XML.value("Code", in: response.body) == nil else { throw S3BlobStore.failure(response, key: key) }
        }

        /// Drops the parts of an unfinished multipart upload (best effort).
        func abort() async {
            guard let uploadID else { return }
            _ = try? await store.send("DELETE", key: key, query: "?uploadId=\(SigV4.encode(uploadID))")
        }
    }
}

/// A file read in chunks, as an async sequence.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let file: URL
    let chunkSize: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?
        let chunkSize: Int
        mutating func next() async throws -> [UInt8]? {
            guard let handle, let data = try handle.read(upToCount: chunkSize), !data.isEmpty else {
                try? handle?.close()
                return nil
            }
            return Array(data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(handle: FileHandle(forReadingAtPath: file.path), chunkSize: chunkSize)
    }
}

/// The few XML elements S3's answers are read for, and escaping for the one document we send.
enum S3XML {
    /// The text of the first `<name>` element, unescaped.
    static func value(_ name: String, in body: [UInt8]) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        guard let open = text.range(of: "<\(name)>"), let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex) else {
            return nil
        }
        return unescaped(String(text[open.upperBound..<close.lowerBound]))
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func unescaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
