import Cryptography
import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Sandbox
import SandboxMicrosoft
import TestSupport
import Testing

/// Outlook mail over the Graph stand-in, as Microsoft documents it: folders, messages, delta rounds
/// with opaque links and removals, an expired delta token, sendMail and reply, Graph's errors.
@Suite(.hangGuard) struct GraphMailTests {
    struct Graph: Sendable {
        let base: String
        let http: HTTPClient
        let token: String

        func get(_ pathOrURL: String, prefer: String? = nil) async throws -> (status: Int, json: [String: Any]) {
            var headers = [HTTPClientRequest.Header("Authorization", "Bearer \(token)")]
            if let prefer { headers.append(.init("Prefer", prefer)) }
            let url = pathOrURL.hasPrefix("http") ? pathOrURL : base + "/graph/v1.0" + pathOrURL
            let response = try await http.execute(HTTPClientRequest(url: url, headers: headers))
            return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:])
        }

        func post(_ path: String, _ json: String, control: Bool = false) async throws -> HTTPClientResponse {
            let url = control ? base.replacingOccurrences(of: "/microsoft", with: "/_sandbox/microsoft") + path : base + "/graph/v1.0" + path
            return try await http.execute(.json(url, Array(json.utf8), headers: control ? [] : [.init("Authorization", "Bearer \(token)")]))
        }

        func deliver(_ json: String) async throws -> [String: Any] {
            let response = try await post("/mail/deliver", json, control: true)
            return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        }

        /// Every page of a delta round from `start`: the entries, and the delta link that ends it.
        func deltaRound(_ start: String, prefer: String? = "odata.maxpagesize=2") async throws -> (entries: [[String: Any]], deltaLink: String, pages: Int) {
            var entries: [[String: Any]] = []
            var link = start
            var pages = 0
            while true {
                let page = try await get(link, prefer: prefer)
                #expect(page.status == 200)
                pages += 1
                entries += page.json["value"] as? [[String: Any]] ?? []
                if let next = page.json["@odata.nextLink"] as? String {
                    #expect(page.json["@odata.deltaLink"] == nil)
                    link = next
                } else {
                    return (entries, try #require(page.json["@odata.deltaLink"] as? String), pages)
                }
            }
        }
    }

    static func withGraph(_ body: @escaping @Sendable (Graph) async throws -> Void) async throws {
        let configuration = MicrosoftStandIn.Configuration()
        let app = SandboxApp.build(standIns: [try MicrosoftStandIn(configuration: configuration)], port: 0, journal: Journal(), faults: Faults(),
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)/microsoft"
            let http = HTTPClient()
            let verifier = Digest.base64URL(Digest.randomBytes(32))
            let challenge = Digest.base64URL(Digest.sha256(Array(verifier.utf8)))
            let redirect = HTTPClientRequest.formEncode(configuration.redirectURIs[0])
            let back = try #require(try await http.execute(HTTPClientRequest(url: base + "/common/oauth2/v2.0/authorize?client_id=\(configuration.clientID)"
                + "&response_type=code&redirect_uri=\(redirect)&scope=openid%20offline_access%20Mail.ReadWrite%20Mail.Send&state=s"
                + "&code_challenge=\(challenge)&code_challenge_method=S256")).header("Location"))
            let code = try #require(URLComponents(string: back)?.queryItems?.first { $0.name == "code" }?.value)
            let tokens = try await http.execute(.form(base + "/common/oauth2/v2.0/token", [
                ("client_id", configuration.clientID), ("client_secret", configuration.clientSecret), ("grant_type", "authorization_code"),
                ("code", code), ("redirect_uri", configuration.redirectURIs[0]), ("code_verifier", verifier),
            ]))
            let token = try #require((try JSONSerialization.jsonObject(with: Data(tokens.body)) as? [String: Any])?["access_token"] as? String)
            try await body(Graph(base: base, http: http, token: token))
        }
    }

    @Test func foldersMessagesAndSelectAsGraphReturnsThem() async throws {
        try await Self.withGraph { g in
            let first = try await g.deliver(#"{"from": "buyer@example.com", "from_name": "Bea Buyer", "subject": "Renewal", "html": "<p>Shall we <b>renew</b>?</p>", "headers": {"List-Unsubscribe": "<mailto:u@example.com>"}}"#)
            _ = try await g.deliver(#"{"from": "lead@prospect.test", "subject": "Pricing", "text": "What does it cost?"}"#)
            let inbox = try await g.get("/me/mailFolders/Inbox/messages?$top=1")
            #expect(inbox.status == 200 && (inbox.json["value"] as? [[String: Any]])?.count == 1)
            #expect((inbox.json["@odata.nextLink"] as? String)?.contains("$skip=1") == true)
            let newest = try #require((inbox.json["value"] as? [[String: Any]])?.first)
            #expect(newest["subject"] as? String == "Pricing" && newest["internetMessageHeaders"] == nil)

            let id = try #require(first["id"] as? String)
            let message = try await g.get("/me/messages/\(id)")
            #expect(message.json["bodyPreview"] as? String == "Shall we renew?")
            #expect((message.json["body"] as? [String: Any])?["contentType"] as? String == "html")
            #expect(((message.json["from"] as? [String: Any])?["emailAddress"] as? [String: Any])?["address"] as? String == "buyer@example.com")
            #expect(message.json["conversationId"] as? String == first["conversationId"] as? String && message.json["parentFolderId"] is String)
            let selected = try await g.get("/me/messages/\(id)?$select=subject,internetMessageHeaders")
            #expect(Set(selected.json.keys.filter { !$0.hasPrefix("@odata") }) == ["id", "subject", "internetMessageHeaders"])
            #expect((selected.json["internetMessageHeaders"] as? [[String: Any]])?.first?["name"] as? String == "List-Unsubscribe")

            // Graph's errors: an unknown message, an unknown folder, no token, a filter Graph refuses.
            let missing = try await g.get("/me/messages/AAMkAGI2nothing")
            #expect(missing.status == 404 && (missing.json["error"] as? [String: Any])?["code"] as? String == "ErrorItemNotFound")
            #expect(((missing.json["error"] as? [String: Any])?["innerError"] as? [String: Any])?["request-id"] is String)
            #expect(try await g.get("/me/mailFolders/nowhere/messages").status == 404)
            let anonymous = try await Graph(base: g.base, http: g.http, token: "nope").get("/me/messages/\(id)")
            #expect(anonymous.status == 401 && (anonymous.json["error"] as? [String: Any])?["code"] as? String == "InvalidAuthenticationToken")
            #expect(try await g.get("/me/mailFolders/inbox/messages?$filter=subject%20eq%20'x'").status == 400)
        }
    }

    @Test func deltaRoundsPageWithOpaqueLinksReportRemovalsAndAForgottenTokenIsGone() async throws {
        try await Self.withGraph { g in
            var ids: [String] = []
            for i in 0..<5 { ids.append(try #require(try await g.deliver(#"{"from": "c\#(i)@example.com", "subject": "m\#(i)", "text": "x"}"#)["id"] as? String)) }
            // The initial round: every message, two a page, the last page ending with a delta link.
            let initial = try await g.deltaRound(g.base + "/graph/v1.0/me/mailFolders/inbox/messages/delta")
            #expect(initial.entries.compactMap { $0["id"] as? String }.sorted() == ids.sorted() && initial.pages == 3)
            // Nothing new: an empty round.
            let quiet = try await g.deltaRound(initial.deltaLink)
            #expect(quiet.entries.isEmpty)
            // One added, one deleted: the next round has exactly those, the deletion as @removed.
            let added = try #require(try await g.deliver(#"{"from": "new@example.com", "subject": "new", "text": "x"}"#)["id"] as? String)
            #expect(try await g.post("/mail/delete", #"{"id": "\#(ids[0])"}"#, control: true).status == 204)
            let changes = try await g.deltaRound(quiet.deltaLink)
            #expect(changes.entries.count == 2)
            #expect(changes.entries.contains { $0["id"] as? String == added && $0["subject"] as? String == "new" })
            #expect(changes.entries.contains { $0["id"] as? String == ids[0] && ($0["@removed"] as? [String: Any])?["reason"] as? String == "deleted" })
            // The filter on receivedDateTime bounds an initial round.
            let future = try await g.deltaRound(g.base + "/graph/v1.0/me/mailFolders/inbox/messages/delta?$filter=receivedDateTime%20ge%202999-01-01T00:00:00Z")
            #expect(future.entries.isEmpty)

            // A delta token Graph no longer knows: 410 SyncStateNotFound.
            #expect(try await g.post("/mail/expire-delta", "{}", control: true).status == 204)
            let gone = try await g.get(changes.deltaLink)
            #expect(gone.status == 410 && (gone.json["error"] as? [String: Any])?["code"] as? String == "SyncStateNotFound")
            let again = try await g.deltaRound(g.base + "/graph/v1.0/me/mailFolders/inbox/messages/delta", prefer: nil)
            #expect(again.entries.count == 5 && again.pages == 1)  // ten a page by default
        }
    }

    @Test func sendMailAndReplyLandInSentItemsWithTheirHeadersAndConversation() async throws {
        try await Self.withGraph { g in
            let sent = try await g.post("/me/sendMail", """
                {"message": {"subject": "Proposal", "body": {"contentType": "HTML", "content": "<p>Here</p>"},
                 "toRecipients": [{"emailAddress": {"address": "buyer@example.com", "name": "Bea"}}],
                 "internetMessageId": "<nexa.1@nexa-demo.test>", "internetMessageHeaders": [{"name": "X-CRM-Message-Id", "value": "m1"}]},
                 "saveToSentItems": true}
                """)
            #expect(sent.status == 202 && sent.body.isEmpty)
            let sentItems = try await g.get("/me/mailFolders/sentitems/messages?$select=internetMessageId,subject,internetMessageHeaders")
            let copy = try #require((sentItems.json["value"] as? [[String: Any]])?.first)
            #expect(copy["internetMessageId"] as? String == "<nexa.1@nexa-demo.test>" && copy["subject"] as? String == "Proposal")
            #expect((copy["internetMessageHeaders"] as? [[String: Any]])?.first?["value"] as? String == "m1")

            let bad = try await g.post("/me/sendMail", #"{"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": "b@example.com"}}], "internetMessageHeaders": [{"name": "Precedence", "value": "bulk"}]}}"#)
            #expect(bad.status == 400 && bad.bodyText.contains("InvalidInternetMessageHeader"))
            #expect(try await g.post("/me/sendMail", #"{"message": {"subject": "nobody"}}"#).status == 400)

            let question = try await g.deliver(#"{"from": "buyer@example.com", "subject": "Question", "text": "?"}"#)
            let id = try #require(question["id"] as? String)
            #expect(try await g.post("/me/messages/\(id)/reply", #"{"comment": "Yes."}"#).status == 202)
            let reply = try #require((try await g.get("/me/mailFolders/sentitems/messages?$top=1").json["value"] as? [[String: Any]])?.first)
            #expect(reply["subject"] as? String == "RE: Question" && reply["conversationId"] as? String == question["conversationId"] as? String)
            #expect(try await g.post("/me/messages/AAMkAGI2nothing/reply", #"{"comment": "x"}"#).status == 404)
        }
    }
}

extension GraphMailTests {
    @Test func injectedFailuresBelowGraphAnswerInGraphsShape() async throws {
        try await Self.withGraph { g in
            let faults = g.base.replacingOccurrences(of: "/microsoft", with: "/_sandbox/faults")
            _ = try await g.http.execute(.json(faults, Array(#"{"provider": "microsoft", "pathPrefix": "/graph/", "status": 429, "retryAfter": 3, "times": 1}"#.utf8)))
            let throttled = try await g.get("/me/mailFolders/inbox/messages")
            #expect(throttled.status == 429 && (throttled.json["error"] as? [String: Any])?["code"] as? String == "ApplicationThrottled")
            #expect(try await g.get("/me/mailFolders/inbox/messages").status == 200)
        }
    }
}
