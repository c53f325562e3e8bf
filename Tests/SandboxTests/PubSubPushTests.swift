import Cryptography
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Sandbox
import SandboxGoogle
import Synchronization
import TestSupport
import Testing

/// Gmail → Pub/Sub authenticated push to a real endpoint.
@Suite(.hangGuard) struct PubSubPushTests {
    final class Pushes: Sendable { let received = Mutex<[(authorization: String, body: JSON)]>([]) }

    @Test func pushesCarryAnOIDCTokenVerifiableWithTheJWKS() async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let pushes = Pushes()
        let router = Router()
        router.post("push/gmail") { request, _ in
            var request = request
            let body = (try? JSON.decode(Array(buffer: try await request.collectBody(upTo: 1 << 20)))) ?? .null
            pushes.received.withLock { $0.append((request.headers[.authorization] ?? "", body)) }
            return Response(status: .noContent)
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await receiver.test(.live) { hook in
            let endpoint = "http://127.0.0.1:\(hook.port!)/push/gmail"
            let app = SandboxApp.build(standIns: [try GoogleStandIn()], port: 0, journal: Journal(), faults: Faults(), logger: logger)
            try await app.test(.live) { client in
                let g = GoogleOAuthTests.Google(client: client)
                try await g.control(#"{"consent": "approve"}"#)
                let code = try #require(try g.redirectParameters(try await g.get(g.authorizeURI()))["code"])
                let token = try #require(try await g.exchange(code).json["access_token"].stringValue)
                _ = try await client.execute(uri: "/_sandbox/google/pubsub/subscriptions", method: .post, headers: [:], body: ByteBuffer(string: """
                    {"topic": "projects/nexa/topics/gmail", "endpoint": "\(endpoint)", "audience": "https://gateway.nexa.test/push/gmail",
                     "service_account": "gmail-push@nexa.iam.gserviceaccount.com"}
                    """))
                let watch = try await client.execute(uri: "/google/gmail/gmail/v1/users/me/watch", method: .post,
                                                     headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                     body: ByteBuffer(string: #"{"topicName": "projects/nexa/topics/gmail"}"#))
                #expect(watch.status == .ok)
                let delivered = try JSON.decode(Array(buffer: try await client.execute(
                    uri: "/_sandbox/google/gmail/deliver", method: .post, headers: [:],
                    body: ByteBuffer(string: #"{"to": "ana@nexa-demo.test", "subject": "Hello", "text": "x"}"#)).body))

                let push = try #require(pushes.received.withLock { $0.first })
                let message = push.body["message"]
                #expect(push.body["subscription"].stringValue?.hasPrefix("projects/") == true)
                #expect(message["messageId"] == message["message_id"] && message["publishTime"] == message["publish_time"])
                let data = try JSON.decode(Array(try #require(Data(base64Encoded: message["data"].stringValue ?? ""))))
                #expect(data["emailAddress"] == "ana@nexa-demo.test" && data["historyId"] == delivered["historyId"])

                #expect(push.authorization.hasPrefix("Bearer "))
                let parts = push.authorization.dropFirst(7).split(separator: ".").map(String.init)
                let header = try JSON.decode(try #require(Digest.base64URLDecode(parts[0])))
                let claims = try JSON.decode(try #require(Digest.base64URLDecode(parts[1])))
                #expect(claims["aud"] == "https://gateway.nexa.test/push/gmail" && claims["email"] == "gmail-push@nexa.iam.gserviceaccount.com")
                #expect(claims["email_verified"] == true && claims["iss"] == "https://accounts.google.com")
                let jwks = try JSON.decode(Array(buffer: try await client.execute(uri: "/google/www/oauth2/v3/certs", method: .get, headers: [:], body: nil).body))
                let jwk = try #require(jwks["keys"].arrayValue?.first { $0["kid"] == header["kid"] })
                let key = try PublicKey(rsaModulus: try #require(Digest.base64URLDecode(jwk["n"].stringValue!)),
                                           exponent: try #require(Digest.base64URLDecode(jwk["e"].stringValue!)))
                #expect(key.verifySHA256(try #require(Digest.base64URLDecode(parts[2])), message: Array((parts[0] + "." + parts[1]).utf8)))

                // Held pushes are released newest first and twice each: duplicates out of order.
                pushes.received.withLock { $0.removeAll() }
                _ = try await client.execute(uri: "/_sandbox/google/pubsub/hold", method: .post, headers: [:], body: nil)
                var historyIDs: [String] = []
                for subject in ["one", "two"] {
                    let d = try JSON.decode(Array(buffer: try await client.execute(
                        uri: "/_sandbox/google/gmail/deliver", method: .post, headers: [:],
                        body: ByteBuffer(string: #"{"to": "ana@nexa-demo.test", "subject": "\#(subject)", "text": "x"}"#)).body))
                    historyIDs.append(d["historyId"].stringValue ?? "")
                }
                #expect(pushes.received.withLock { $0.isEmpty })
                _ = try await client.execute(uri: "/_sandbox/google/pubsub/release", method: .post, headers: [:],
                                             body: ByteBuffer(string: #"{"reverse": true, "duplicate": true}"#))
                let order = pushes.received.withLock { $0 }.map { push -> String in
                    let decoded = try? JSON.decode(Array(Data(base64Encoded: push.body["message"]["data"].stringValue ?? "") ?? Data()))
                    return decoded?["historyId"].stringValue ?? ""
                }
                #expect(order == [historyIDs[1], historyIDs[1], historyIDs[0], historyIDs[0]])
            }
        }
    }
}
