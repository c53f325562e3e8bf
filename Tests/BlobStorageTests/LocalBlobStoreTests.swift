import BlobStorage
import Foundation
import TestSupport
import Testing

/// The local folder store on a real temporary folder.
@Suite(.hangGuard) struct LocalBlobStoreTests {
    static func withStore(_ body: (LocalBlobStore, URL) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nexa-blobs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try await body(LocalBlobStore(root: root), root)
    }

    /// Every file below `root`, relative.
    static func files(_ root: URL) -> [String] {
        (FileManager.default.enumerator(atPath: root.path)?.allObjects as? [String] ?? [])
            .filter { !((try? FileManager.default.attributesOfItem(atPath: root.appendingPathComponent($0).path)[.type] as? FileAttributeType) == .typeDirectory) }
    }

    @Test func aStreamedBlobRoundTripsAndOnlyTheFinalFileRemains() async throws {
        try await Self.withStore { store, root in
            let bytes = (0..<300_000).map { UInt8($0 % 251) }
            let (key, size) = try await store.write(prefix: "imports", fileExtension: "csv", limit: 1 << 20,
                                                    chunks: S3BlobStoreTests.chunks(bytes, size: 64 * 1024))
            #expect(size == bytes.count && key.hasPrefix("imports/") && key.hasSuffix(".csv"))
            let stored = try await store.withLocalFile(key) { Array(try Data(contentsOf: $0)) }
            #expect(stored == bytes)
            let exists = try await store.exists(key)
            #expect(exists)
            #expect(Self.files(root) == [key])
            let download = try await store.download(key, filename: "x.csv", validFor: .seconds(60))
            #expect(download == .file(root.appendingPathComponent(key)))
        }
    }

    @Test func overTheLimitOrWhenTheWriterFailsNothingIsKept() async throws {
        try await Self.withStore { store, root in
            await #expect(throws: BlobStoreError.tooLarge(limit: 100_000)) {
                try await store.write(prefix: "imports", fileExtension: "csv", limit: 100_000,
                                      chunks: S3BlobStoreTests.chunks(Array(repeating: 7, count: 150_000), size: 32 * 1024))
            }
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await store.create(prefix: "exports", fileExtension: "csv") { handle in
                    try handle.write(contentsOf: Data("half a file".utf8))
                    throw Refused()
                }
            }
            #expect(Self.files(root).isEmpty)
        }
    }

    @Test func keysThatLeaveTheFolderAreRefusedAndMissingOnesAreNotFound() async throws {
        try await Self.withStore { store, _ in
            for key in ["../etc/passwd", "/etc/passwd", "a/../../b", ""] {
                #expect(throws: BlobStoreError.invalidKey(key)) { try store.url(key) }
            }
            await #expect(throws: BlobStoreError.notFound(key: "exports/none.csv")) {
                try await store.withLocalFile("exports/none.csv") { _ in }
            }
            let exists = try await store.exists("exports/none.csv")
            #expect(!exists)
        }
    }
}
