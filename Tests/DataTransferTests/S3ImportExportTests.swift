import BlobStorage
import CurlHTTP
import DataTransfer
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Messages
import Platform
import Postgres
import RPC
import RPCNIO
import Sandbox
import SandboxS3
import ServiceLifecycle
import TestSupport
import Testing

/// The gateway and the data transfer service with an S3-compatible blob store (the sandbox's
/// stand-in, real HTTP): an upload goes to the bucket, the import reads it from there, and an
/// export's link sends the client to a presigned URL.
@Suite(.hangGuard) struct S3ImportExportTests {
    @Test func importAndExportThroughAnS3CompatibleStore() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (_, key) = try await APIKeys(db: db).create(workspaceID: workspace, name: "crm", services: ["data_transfer"])
        let standIn = S3StandIn.Configuration()
        let sandbox = SandboxApp.build(standIns: [S3StandIn(configuration: standIn)], port: 0, journal: Journal(), faults: Faults(),
                                       logger: TestDatabase.logger)
        try await sandbox.test(.live) { s3 in
            let s3Base = "http://127.0.0.1:\(s3.port!)"
            let blobs = S3BlobStore(configuration: .init(endpoint: s3Base + "/s3", bucket: "nexa", region: standIn.region,
                                                         accessKeyID: standIn.accessKeyID, secretAccessKey: standIn.secretAccessKey))
            try await ImportGateway.with(db: db, blobs: blobs, maximumUploadSize: 1 << 20) { base, jobs in
                let http = HTTPClient()
                let auth = HTTPClientRequest.Header("Authorization", "Bearer \(key)")
                let csv = Array("email,first_name,phone\nana@x.test,Ana,+14155550100\nbob@x.test,=1+1,\n".utf8)
                let created = try await http.execute(HTTPClientRequest(method: "POST", url: base + "/v1/imports", headers: [auth], body: csv))
                #expect(created.status == 201)
                let listed = try await http.execute(HTTPClientRequest(url: s3Base + "/_sandbox/s3/objects"))
                #expect(listed.bodyText.contains("\"imports/"), "the upload is in the bucket: \(listed.bodyText)")
                #expect(await jobs.processDue() == 1)
                #expect(try await db.query("SELECT count(*) FROM contacts WHERE workspace_id = \(workspace)")[0].decode(Int.self, at: 0) == 2)

                let exported = try await http.execute(.json(base + "/v1/exports", Array(#"{"fields": ["email", "first_name", "phone"]}"#.utf8),
                                                            headers: [auth]))
                #expect(exported.status == 201)
                let answer = try #require(try JSONSerialization.jsonObject(with: Data(exported.body)) as? [String: Any])
                let link = try #require(answer["download_url"] as? String)
                let token = String(link.dropFirst("https://gw.test/v1/downloads/".count))
                let redirect = try await http.execute(HTTPClientRequest(url: base + "/v1/downloads/\(token)"))
                #expect(redirect.status == 302)
                let presigned = try #require(redirect.header("Location"))
                #expect(presigned.hasPrefix(s3Base + "/s3/nexa/exports/") && presigned.contains("X-Amz-Signature="))
                let file = try await http.execute(HTTPClientRequest(url: presigned))
                #expect(file.status == 200)
                #expect(file.header("Content-Disposition")?.hasPrefix("attachment; filename=") == true)
                // Neutralised cells: the phone's `+` and the formula's `=` behind an apostrophe.
                #expect(file.bodyText.hasPrefix("email,first_name,phone\r\n") && file.bodyText.contains("ana@x.test,Ana,'+14155550100")
                        && file.bodyText.contains("bob@x.test,'=1+1,"), "\(file.bodyText)")
            }
        }
    }
}
