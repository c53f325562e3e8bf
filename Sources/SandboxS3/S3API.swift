import Cryptography
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import Sandbox

/// The S3 operations, each after the request's signature checked out.
struct S3API: Sendable {
    let configuration: S3StandIn.Configuration
    let store: S3Store

    func serve(_ request: Request) async -> Response {
        let requestID = Digest.hex(Digest.randomBytes(8)).uppercased()
        let head = request.method == .head
        do {
            var request = request
            let body = Array(buffer: try await request.collectBody(upTo: 64 * 1024 * 1024))
            let (bucket, key) = try Self.target(request.uri.path)
            let query = Self.queryPairs(request.uri.query ?? "")
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            headers["host"] = request.head.authority ?? headers["host"]
            let signature = S3Signature(accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey, region: configuration.region)
            if let failure = signature.verify(.init(method: request.method.rawValue, rawPath: request.uri.path, query: query, headers: headers, body: body),
                                              now: Date()) {
                throw failure
            }
            var response = try handle(request.method, bucket: bucket, key: key, query: Dictionary(query, uniquingKeysWith: { a, _ in a }),
                                      headers: headers, body: body)
            response.headers[HTTPField.Name("x-amz-request-id")!] = requestID
            return response
        } catch let error as S3Error {
            return error.response(requestID: requestID, head: head)
        } catch {
            return S3Error(.badRequest, "IncompleteBody", "\(error)").response(requestID: requestID, head: head)
        }
    }

    /// `/s3/<bucket>[/<key>]`, the key percent-decoded.
    static func target(_ path: String) throws(S3Error) -> (bucket: String, key: String?) {
        let rest = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).dropFirst(2)  // "", "s3"
        guard let bucket = rest.first.map(String.init), !bucket.isEmpty else {
            throw S3Error(.badRequest, "InvalidRequest", "path-style requests name a bucket: /s3/<bucket>/<key>")
        }
        let key = rest.dropFirst().first.flatMap { String($0).removingPercentEncoding }.flatMap { $0.isEmpty ? nil : $0 }
        return (bucket, key)
    }

    static func queryPairs(_ query: String) -> [(String, String)] {
        query.split(separator: "&").map { part in
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(pair[0]).removingPercentEncoding ?? String(pair[0]),
                    pair.count > 1 ? (String(pair[1]).removingPercentEncoding ?? String(pair[1])) : "")
        }
    }

    private func handle(_ method: HTTPRequest.Method, bucket: String, key: String?, query: [String: String], headers: [String: String],
                        body: [UInt8]) throws(S3Error) -> Response {
        let minimumPart = configuration.minimumPartSize
        return try store.withState { (buckets: inout [String: [String: S3Store.Object]], uploads: inout [String: S3Store.Upload]) throws(S3Error) -> Response in
            guard let key else {
                // Bucket level: CreateBucket only.
                guard method == .put else { throw S3Error(.notImplemented, "NotImplemented", "only CreateBucket is served at the bucket level") }
                guard buckets[bucket] == nil else {
                    throw S3Error(.conflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
                }
                buckets[bucket] = [:]
                return Response(status: .ok, headers: [.location: "/\(bucket)"])
            }
            guard buckets[bucket] != nil else { throw .noSuchBucket(bucket) }
            switch method {
            case .put where query["uploadId"] != nil:
                guard let number = query["partNumber"].flatMap(Int.init), (1...10_000).contains(number) else {
                    throw S3Error(.badRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
                }
                guard var upload = uploads[query["uploadId"]!], upload.bucket == bucket, upload.key == key else { throw .noSuchUpload }
                let etag = S3Store.etag(body)
                upload.parts[number] = (body, etag)
                uploads[query["uploadId"]!] = upload
                return Response(status: .ok, headers: [HTTPField.Name("ETag")!: etag])
            case .put:
                let etag = S3Store.etag(body)
                buckets[bucket]![key] = .init(bytes: body, etag: etag, modified: Date())
                return Response(status: .ok, headers: [HTTPField.Name("ETag")!: etag])
            case .get, .head:
                guard let object = buckets[bucket]![key] else { throw .noSuchKey(key) }
                var response = try Self.read(object, range: headers["range"], head: method == .head)
                // Presigned GETs may ask for the headers the object is served with.
                if let value = query["response-content-disposition"] { response.headers[.contentDisposition] = value }
                if let value = query["response-content-type"] { response.headers[.contentType] = value }
                return response
            case .delete where query["uploadId"] != nil:
                guard uploads.removeValue(forKey: query["uploadId"]!) != nil else { throw .noSuchUpload }
                return Response(status: .noContent)
            case .delete:
                buckets[bucket]![key] = nil
                return Response(status: .noContent)
            case .post where query["uploads"] != nil:
                let id = Digest.base64URL(Digest.randomBytes(24))
                uploads[id] = .init(bucket: bucket, key: key)
                return Self.xml("""
                    <InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>\(S3StandIn.xmlEscaped(bucket))</Bucket>\
                    <Key>\(S3StandIn.xmlEscaped(key))</Key><UploadId>\(id)</UploadId></InitiateMultipartUploadResult>
                    """)
            case .post where query["uploadId"] != nil:
                guard let upload = uploads[query["uploadId"]!], upload.bucket == bucket, upload.key == key else { throw .noSuchUpload }
                let listed = Self.completedParts(body)
                guard !listed.isEmpty else { throw S3Error(.badRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.") }
                guard zip(listed, listed.dropFirst()).allSatisfy({ $0.number < $1.number }) else {
                    throw S3Error(.badRequest, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
                }
                var bytes: [UInt8] = []
                for (i, part) in listed.enumerated() {
                    guard let stored = upload.parts[part.number], stored.etag == part.etag else {
                        throw S3Error(.badRequest, "InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
                    }
                    if i < listed.count - 1, stored.bytes.count < minimumPart {
                        throw S3Error(.badRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
                    }
                    bytes += stored.bytes
                }
                let etag = "\"" + Digest.hex(Digest.sha256(bytes).prefix(16)) + "-\(listed.count)\""
                buckets[bucket]![key] = .init(bytes: bytes, etag: etag, modified: Date())
                uploads[query["uploadId"]!] = nil
                return Self.xml("""
                    <CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>/\(S3StandIn.xmlEscaped(bucket))/\
                    \(S3StandIn.xmlEscaped(key))</Location><Bucket>\(S3StandIn.xmlEscaped(bucket))</Bucket><Key>\(S3StandIn.xmlEscaped(key))</Key>\
                    <ETag>\(S3StandIn.xmlEscaped(etag))</ETag></CompleteMultipartUploadResult>
                    """)
            default:
                throw S3Error(.methodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
            }
        }
    }

    /// The whole object, or the one `bytes=first-last` range asked for (206), as S3 serves them.
    static func read(_ object: S3Store.Object, range: String?, head: Bool) throws(S3Error) -> Response {
        var headers: HTTPFields = [.contentType: "application/octet-stream", HTTPField.Name("ETag")!: object.etag, .acceptRanges: "bytes"]
        headers[.lastModified] = httpDate(object.modified)
        var slice = object.bytes[...]
        var status = HTTPResponse.Status.ok
        if let range, range.hasPrefix("bytes=") {
            let bounds = range.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 2, let first = Int(bounds[0]) else { throw S3Error(.badRequest, "InvalidArgument", "unsupported Range: \(range)") }
            guard first < object.bytes.count else {
                throw S3Error(.rangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable")
            }
            let last = min(Int(bounds[1]) ?? (object.bytes.count - 1), object.bytes.count - 1)
            slice = object.bytes[first...last]
            status = .partialContent
            headers[.contentRange] = "bytes \(first)-\(last)/\(object.bytes.count)"
        }
        headers[.contentLength] = String(slice.count)
        return Response(status: status, headers: headers, body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: slice)))
    }

    /// `<Part><PartNumber>n</PartNumber><ETag>"…"</ETag></Part>`… of a CompleteMultipartUpload document.
    static func completedParts(_ body: [UInt8]) -> [(number: Int, etag: String)] {
        let text = String(decoding: body, as: UTF8.self)
        return text.components(separatedBy: "<Part>").dropFirst().compactMap { chunk in
            func value(_ name: String) -> String? {
                guard let open = chunk.range(of: "<\(name)>"), let close = chunk.range(of: "</\(name)>") else { return nil }
                return String(chunk[open.upperBound..<close.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
            }
            guard let number = value("PartNumber").flatMap(Int.init), let etag = value("ETag") else { return nil }
            return (number, etag)
        }
    }

    static func xml(_ document: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/xml"],
                 body: .init(byteBuffer: ByteBuffer(string: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + document)))
    }
}
