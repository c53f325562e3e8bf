import BlobStorage
import CurlHTTP
import DataTransfer
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Messages
import NIOCore
import Platform
import Postgres
import RPC
import Logging
import RPCNIO
import SandboxSMTP
import ServiceLifecycle
import TestSupport
import Testing

/// `POST /v1/imports` and `GET /v1/imports/<id>` on the gateway, over real HTTP, with the data
/// transfer service behind it over real RPC.
@Suite(.hangGuard) struct ImportHTTPTests {
    @Test func uploadQueueProgressAndSummaryScopedToTheKeysWorkspace() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let other = try await TestDatabase.workspace(in: db, name: "Other")
        let (_, key) = try await APIKeys(db: db).create(workspaceID: workspace, name: "crm", services: ["data_transfer"])
        let (_, otherKey) = try await APIKeys(db: db).create(workspaceID: other, name: "other", services: ["*"])
        let blobs = LocalBlobStore(root: FileManager.default.temporaryDirectory.appendingPathComponent("nexa-blobs-\(UUID().uuidString)"))
        let mailbox = Mailbox()
        let smtp = SMTPServer(port: 0, mailbox: mailbox, logger: TestDatabase.logger)
        let smtpGroup = ServiceGroup(services: [smtp], logger: TestDatabase.logger)
        let smtpTask = Task { try await smtpGroup.run() }
        defer { smtpTask.cancel() }
        let smtpPort = try await Wait.value("the SMTP server is listening") { smtp.localAddress?.port }
        try await ImportGateway.with(db: db, blobs: blobs, maximumUploadSize: 4096, mail: MailServer(url: "smtp://127.0.0.1:\(smtpPort)")) { base, jobs in
            let http = HTTPClient()
            let csv = Array("Mail Address,Org\nana@x.test,Acme\nbob@x.test,Acme\n".utf8)
            let url = base + "/v1/imports?entity=contacts&map=Mail%20Address%3Demail&map=Org%3Daccount.name"
            let created = try await http.execute(HTTPClientRequest(method: "POST", url: url, headers: [.init("Authorization", "Bearer \(key)")], body: csv))
            #expect(created.status == 201)
            let job = try #require((try JSONSerialization.jsonObject(with: Data(created.body))) as? [String: Any])
            let id = try #require(job["id"] as? String)
            #expect(job["status"] as? String == "queued" && created.header("Location") == "/v1/imports/\(id)")

            #expect(await jobs.processDue() == 1)
            let done = try await http.execute(HTTPClientRequest(url: base + "/v1/imports/\(id)", headers: [.init("Authorization", "Bearer \(key)")]))
            let summary = try #require((try JSONSerialization.jsonObject(with: Data(done.body))) as? [String: Any])
            #expect(done.status == 200 && summary["status"] as? String == "completed")
            #expect((summary["created"] as? NSNumber)?.intValue == 2 && (summary["percent"] as? NSNumber)?.intValue == 100)
            #expect(try await db.query("SELECT count(*) FROM contacts c JOIN accounts a ON a.id = c.account_id WHERE a.name = 'Acme'")[0]
                .decode(Int.self, at: 0) == 2)

            let anonymous = try await http.execute(HTTPClientRequest(method: "POST", url: url, body: csv))
            #expect(anonymous.status == 401)
            let foreign = try await http.execute(HTTPClientRequest(url: base + "/v1/imports/\(id)", headers: [.init("Authorization", "Bearer \(otherKey)")]))
            #expect(foreign.status == 404)
            let big = try await http.execute(HTTPClientRequest(method: "POST", url: url, headers: [.init("Authorization", "Bearer \(key)")],
                                                               body: [UInt8](repeating: 0x61, count: 10_000)))
            #expect(big.status == 413)
            // Skip mode: the valid rows land, the others are downloadable with an error column, and the requester gets the summary by email.
            let mixed = Array("email,phone\ncat@x.test,+44 20 7946 0958\nnope,\ndan@x.test,call me\n".utf8)
            let skip = try await http.execute(HTTPClientRequest(
                method: "POST", url: base + "/v1/imports?mode=skip&notify=ana%40nexa.test&file_name=mixed.csv",
                headers: [.init("Authorization", "Bearer \(key)")], body: mixed))
            let skipID = try #require(((try JSONSerialization.jsonObject(with: Data(skip.body))) as? [String: Any])?["id"] as? String)
            #expect(await jobs.processDue() == 1)
            let errors = try await http.execute(HTTPClientRequest(url: base + "/v1/imports/\(skipID)/errors", headers: [.init("Authorization", "Bearer \(key)")]))
            #expect(errors.status == 200 && errors.header("Content-Type")?.hasPrefix("text/csv") == true)
            let expected = "email,phone,error\r\n" + #"nope,,"email: ""nope"" is not an email address (row 3)""# + "\r\n"
                + #"dan@x.test,call me,"phone: ""call me"" is not a phone number (row 4)""# + "\r\n"
            #expect(errors.bodyText == expected)
            let mail = try #require(mailbox.all.first { $0.recipients == ["ana@nexa.test"] })
            #expect(mail.header("subject") == "Import completed: 1 created, 0 updated")
            #expect(mail.body.contains("Your import of mixed.csv is complete") && mail.body.contains("Skipped:     2"))
            #expect(mail.body.contains("/v1/imports/\(skipID)/errors"))
            let none = try await http.execute(HTTPClientRequest(url: base + "/v1/imports/\(id)/errors", headers: [.init("Authorization", "Bearer \(key)")]))
            #expect(none.status == 404)

            // Export what was imported: a signed link, then the file through it.
            let export = try await http.execute(.json(base + "/v1/exports",
                                                      Array(#"{"fields": ["email", "account.name"], "tagsAny": [], "notifyEmail": "eve@nexa.test"}"#.utf8),
                                                      headers: [.init("Authorization", "Bearer \(key)")]))
            #expect(export.status == 201)
            let answer = try #require((try JSONSerialization.jsonObject(with: Data(export.body))) as? [String: Any])
            #expect((answer["rows"] as? NSNumber)?.intValue == 3 && answer["emailed_to"] as? String == "eve@nexa.test")
            let signed = try #require(answer["download_url"] as? String)
            // The same link, by mail.
            let linkMail = try #require(mailbox.all.first { $0.recipients == ["eve@nexa.test"] })
            #expect(linkMail.header("Subject") == "Your export is ready: 3 contact(s)" && linkMail.data.contains(signed))
            let link = signed.replacingOccurrences(of: "https://gw.test", with: base)
            let download = try await http.execute(HTTPClientRequest(url: link))
            #expect(download.status == 200 && download.bodyText.hasPrefix("email,account.name\r\n") && download.bodyText.contains("ana@x.test,Acme"))
            let tampered = try await http.execute(HTTPClientRequest(url: link.replacingOccurrences(of: "/v1/downloads/", with: "/v1/downloads/x")))
            #expect(tampered.status == 403)
            let refused = try await http.execute(.json(base + "/v1/exports", Array(#"{"fields": ["secret"]}"#.utf8),
                                                       headers: [.init("Authorization", "Bearer \(key)")]))
            #expect(refused.status == 400)
            #expect(try await http.execute(.json(base + "/v1/exports", Array("{}".utf8))).status == 401)

            let badMapping = try await http.execute(HTTPClientRequest(method: "POST", url: base + "/v1/imports?mode=sometimes",
                                                                      headers: [.init("Authorization", "Bearer \(key)")], body: csv))
            #expect(badMapping.status == 400)
        }
    }
}
