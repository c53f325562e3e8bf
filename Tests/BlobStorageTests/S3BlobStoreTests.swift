import BlobStorage
import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Sandbox
import SandboxS3
import TestSupport
import Testing

/// The S3 store against the sandbox's S3 stand-in over real HTTP on loopback.
@Suite(.hangGuard) struct S3BlobStoreTests {
    static let standIn = S3StandIn.Configuration()

    struct Sandbox {
        var base: String
        var journal: Journal
        func store(partSize: Int = 5 * 1024 * 1024, secret: String = S3BlobStoreTests.standIn.secretAccessKey,
                   accessKey: String = S3BlobStoreTests.standIn.accessKeyID) -> S3BlobStore {
            var configuration = S3BlobStore.Configuration(endpoint: base + "/s3", bucket: "nexa", region: "us-east-1",
                                                          accessKeyID: accessKey, secretAccessKey: secret)
            configuration.partSize = partSize
            return S3BlobStore(configuration: configuration)
        }
        /// Requests the stand-in received, as `METHOD target`.
        var requests: [String] { journal.entries(provider: "s3").map { "\($0.method) \($0.target)" } }
    }

    func withSandbox(_ body: @escaping @Sendable (Sandbox) async throws -> Void) async throws {
        let journal = Journal()
        let app = SandboxApp.build(standIns: [S3StandIn()], port: 0, journal: journal, faults: Faults(), logger: Logger(label: "test"))
        try await app.test(.live) { client in
            try await body(Sandbox(base: "http://127.0.0.1:\(client.port!)", journal: journal))
        }
    }

    static func chunks(_ bytes: [UInt8], size: Int = 1 << 20) -> AsyncThrowingStream<[UInt8], any Error> {
        AsyncThrowingStream { continuation in
            var offset = 0
            while offset < bytes.count {
                continuation.yield(Array(bytes[offset..<min(offset + size, bytes.count)]))
                offset += size
            }
            continuation.finish()
        }
    }

    static func contents(of store: S3BlobStore, _ key: String) async throws -> [UInt8] {
        try await store.withLocalFile(key) { Array(try Data(contentsOf: $0)) }
    }

    @Test func aSmallBlobRoundTripsAndItsLinkNeedsNoKey() async throws {
        try await withSandbox { sandbox in
            let store = sandbox.store()
            let csv = Array("email\r\nann@x.test\r\n".utf8)
            let (key, size) = try await store.write(prefix: "imports", fileExtension: "csv", limit: 1 << 20, chunks: Self.chunks(csv))
            #expect(size == csv.count && key.hasPrefix("imports/") && key.hasSuffix(".csv"))
            #expect(try await store.exists(key))
            #expect(try await Self.contents(of: store, key) == csv)
            #expect(sandbox.requests.contains("PUT /nexa/\(key)"), "one PUT, no multipart upload: \(sandbox.requests)")

            guard case .redirect(let url) = try await store.download(key, filename: "contacts.csv", validFor: .seconds(60)) else {
                Issue.record("an S3 download is a redirect")
                return
            }
            let fetched = try await HTTPClient().execute(HTTPClientRequest(url: url))
            #expect(fetched.status == 200 && fetched.body == csv)
            #expect(fetched.header("Content-Disposition") == "attachment; filename=\"contacts.csv\"")
            // A link with its signature altered, or for another key, is refused.
            let altered = String(url.dropLast()) + (url.hasSuffix("0") ? "1" : "0")
            let refused = try await HTTPClient().execute(HTTPClientRequest(url: altered))
            #expect(refused.status == 403 && refused.bodyText.contains("<Code>SignatureDoesNotMatch</Code>"))
            let other = try await HTTPClient().execute(HTTPClientRequest(url: url.replacingOccurrences(of: key, with: "imports/other.csv")))
            #expect(other.status == 403)

            await #expect(throws: BlobStoreError.notFound(key: "imports/missing.csv")) { _ = try await Self.contents(of: store, "imports/missing.csv") }
            #expect(try await store.exists("imports/missing.csv") == false)
            await #expect(throws: BlobStoreError.notFound(key: "imports/missing.csv")) {
                _ = try await store.download("imports/missing.csv", filename: "x.csv", validFor: .seconds(60))
            }
        }
    }

    @Test func aLargeBlobGoesUpInPartsAndComesDownInRanges() async throws {
        try await withSandbox { sandbox in
            let store = sandbox.store()
            // Each mebibyte filled with its own number: parts out of order or lost would show.
            let bytes = (0..<12).flatMap { [UInt8](repeating: UInt8($0), count: 1 << 20) } + [UInt8](repeating: 0xFF, count: 123)
            let (key, size) = try await store.write(prefix: "imports", fileExtension: "csv", limit: 64 << 20, chunks: Self.chunks(bytes))
            #expect(size == bytes.count)
            let requests = sandbox.requests
            #expect(requests.filter { $0.hasPrefix("POST /nexa/\(key)?uploads") }.count == 1)
            #expect(requests.filter { $0.hasPrefix("PUT /nexa/\(key)?partNumber=") }.count == 3)
            #expect(requests.filter { $0.hasPrefix("POST /nexa/\(key)?uploadId=") }.count == 1)
            #expect(try await Self.contents(of: store, key) == bytes)
            #expect(sandbox.requests.filter { $0 == "GET /nexa/\(key)" }.count == 3, "three ranged reads of 5 MiB")

            // `create` writes through a local file, then uploads it the same way.
            let (created, rows) = try await store.create(prefix: "exports", fileExtension: "csv") { handle in
                try handle.write(contentsOf: Data(bytes.prefix(6 * 1024 * 1024)))
                return 42
            }
            #expect(rows == 42)
            #expect(try await Self.contents(of: store, created) == Array(bytes.prefix(6 * 1024 * 1024)))
        }
    }

    @Test func overTheLimitTheUploadIsAbortedAndNothingIsKept() async throws {
        try await withSandbox { sandbox in
            let store = sandbox.store()
            let bytes = [UInt8](repeating: 0x41, count: 7 * 1024 * 1024)
            await #expect(throws: BlobStoreError.tooLarge(limit: 6 * 1024 * 1024)) {
                _ = try await store.write(prefix: "imports", fileExtension: "csv", limit: 6 * 1024 * 1024, chunks: Self.chunks(bytes))
            }
            #expect(sandbox.requests.contains { $0.hasPrefix("DELETE /nexa/imports/") && $0.contains("?uploadId=") })
            let listed = try await HTTPClient().execute(HTTPClientRequest(url: sandbox.base + "/_sandbox/s3/objects"))
            #expect(listed.bodyText.contains("[") && !listed.bodyText.contains("imports/"))
        }
    }

    @Test func theStandInRefusesWhatS3Refuses() async throws {
        try await withSandbox { sandbox in
            let chunks = Self.chunks(Array("x".utf8))
            await #expect(throws: BlobStoreError.remote(status: 403, code: "SignatureDoesNotMatch",
                                                        message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.")) {
                _ = try await sandbox.store(secret: "wrong").write(prefix: "p", fileExtension: "csv", limit: 10, chunks: chunks)
            }
            do {
                _ = try await sandbox.store(accessKey: "AKIAUNKNOWN").exists("p/x.csv")
                Issue.record("an unknown access key is refused")
            } catch let BlobStoreError.remote(status, code, _) {
                #expect(status == 403 && code == "HTTP403", "HEAD answers carry no body: \(code)")
            }
            _ = try? await sandbox.store(accessKey: "AKIAUNKNOWN").write(prefix: "p", fileExtension: "csv", limit: 10, chunks: Self.chunks([1]))
            #expect(sandbox.journal.entries(provider: "s3").last?.status == 403)

            // A body that is not the one signed, a stale date, a presigned link past its time, an unsigned request.
            let signer = SigV4(accessKeyID: Self.standIn.accessKeyID, secretAccessKey: Self.standIn.secretAccessKey, region: "us-east-1")
            var swapped = HTTPClientRequest(method: "PUT", url: sandbox.base + "/s3/nexa/p/a.csv", body: Array("signed".utf8))
            try signer.sign(&swapped, at: Date())
            swapped.body = Array("sent".utf8)
            #expect(try await HTTPClient().execute(swapped).bodyText.contains("<Code>XAmzContentSHA256Mismatch</Code>"))
            var stale = HTTPClientRequest(method: "PUT", url: sandbox.base + "/s3/nexa/p/a.csv", body: [1])
            try signer.sign(&stale, at: Date().addingTimeInterval(-16 * 60))
            #expect(try await HTTPClient().execute(stale).bodyText.contains("<Code>RequestTimeTooSkewed</Code>"))
            let expired = try signer.presignedURL(url: sandbox.base + "/s3/nexa/p/a.csv", at: Date().addingTimeInterval(-120), expires: .seconds(60))
            let late = try await HTTPClient().execute(HTTPClientRequest(url: expired))
            #expect(late.status == 403 && late.bodyText.contains("Request has expired"))
            let anonymous = try await HTTPClient().execute(HTTPClientRequest(url: sandbox.base + "/s3/nexa/p/a.csv"))
            #expect(anonymous.status == 403 && anonymous.bodyText.contains("<Code>AccessDenied</Code>"))

            // Multipart completion with a part below 5 MiB that is not the last.
            var start = HTTPClientRequest(method: "POST", url: sandbox.base + "/s3/nexa/p/m.csv?uploads")
            try signer.sign(&start, at: Date())
            let uploadID = try await HTTPClient().execute(start).bodyText.components(separatedBy: "<UploadId>")[1].components(separatedBy: "<")[0]
            var etags: [String] = []
            for number in 1...2 {
                var part = HTTPClientRequest(method: "PUT", url: sandbox.base + "/s3/nexa/p/m.csv?partNumber=\(number)&uploadId=\(uploadID)", body: [UInt8(number)])
                try signer.sign(&part, at: Date())
                etags.append(try await HTTPClient().execute(part).header("ETag") ?? "")
            }
            let xml = "<CompleteMultipartUpload>" + etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>" }.joined()
                + "</CompleteMultipartUpload>"
            var complete = HTTPClientRequest(method: "POST", url: sandbox.base + "/s3/nexa/p/m.csv?uploadId=\(uploadID)", body: Array(xml.utf8))
            try signer.sign(&complete, at: Date())
            #expect(try await HTTPClient().execute(complete).bodyText.contains("<Code>EntityTooSmall</Code>"))
        }
    }
}
