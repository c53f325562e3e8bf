import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Sandbox
import SandboxMicrosoft
import Synchronization
import TestSupport
import Testing

/// Graph change notifications from the stand-in to a real endpoint: the validation handshake on
/// both URLs, refused when the echo is wrong; notifications for mail added; renewal, removal and
/// lifecycle events; Graph's limits.
@Suite(.hangGuard) struct GraphSubscriptionTests {
    final class Receiver: Sendable {
        /// What arrived, by path (`hook/notify`, `hook/lifecycle`).
        let received = Mutex<[String: [JSON]]>([:])
        /// Echo the validation token wrongly (a misbehaving endpoint).
        let garble = Mutex(false)
    }

    @Test func handshakeNotificationsRenewalAndLifecycle() async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let receiver = Receiver()
        let router = Router()
        for path in ["hook/notify", "hook/lifecycle"] {
            router.post(RouterPath(path)) { request, _ in
                var request = request
                if let token = request.uri.queryParameters["validationToken"].map(String.init)?.removingPercentEncoding {
                    let echo = receiver.garble.withLock { $0 } ? token + "x" : token
                    return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: echo)))
                }
                let body = (try? JSON.decode(Array(buffer: try await request.collectBody(upTo: 1 << 20)))) ?? .null
                receiver.received.withLock { $0[path, default: []].append(body) }
                return Response(status: .accepted)
            }
        }
        let hooks = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await hooks.test(.live) { hook in
            try await GraphMailTests.withGraph { g in
                let notify = "http://127.0.0.1:\(hook.port!)/hook/notify", lifecycle = "http://127.0.0.1:\(hook.port!)/hook/lifecycle"
                let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(2 * 86_400))
                func subscribe(_ extra: String = "", expiration: String? = nil) async throws -> (status: Int, json: JSON) {
                    let response = try await g.post("/subscriptions", """
                        {"changeType": "created", "notificationUrl": "\(notify)", "lifecycleNotificationUrl": "\(lifecycle)",
                         "resource": "me/mailFolders('inbox')/messages", "expirationDateTime": "\(expiration ?? expires)", "clientState": "s3cret"\(extra)}
                        """)
                    return (response.status, try JSON.decode(response.body))
                }
                let created = try await subscribe()
                #expect(created.status == 201 && created.json["clientState"] == "s3cret" && created.json["lifecycleNotificationUrl"].stringValue == lifecycle)
                let id = try #require(created.json["id"].stringValue)

                // Mail into the inbox is notified, with the clientState, the resource and its id.
                let delivered = try await g.deliver(#"{"from": "buyer@example.com", "subject": "hi", "text": "x"}"#)
                let notification = try #require(receiver.received.withLock { $0["hook/notify"]?.first }?["value"].arrayValue?.first)
                #expect(notification["subscriptionId"].stringValue == id && notification["clientState"] == "s3cret" && notification["changeType"] == "created")
                #expect(notification["resourceData"]["id"].stringValue == delivered["id"] as? String && notification["tenantId"].stringValue != nil)
                // Sent mail is not in the subscribed folder.
                _ = try await g.post("/me/sendMail", #"{"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": "b@example.com"}}]}}"#)
                #expect(receiver.received.withLock { $0["hook/notify"]?.count } == 1)

                // Renewal answers the subscription; lifecycle events reach the lifecycle URL; removal ends it.
                let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3 * 86_400))
                let renewed = try await g.http.execute(.json(g.base + "/graph/v1.0/subscriptions/\(id)", Array(#"{"expirationDateTime": "\#(later)"}"#.utf8),
                                                             headers: [.init("Authorization", "Bearer \(g.token)")], method: "PATCH"))
                let renewal = try JSON.decode(renewed.body)
                #expect(renewed.status == 200 && renewal["id"].stringValue == id)
                #expect(try await g.post("/subscriptions/\(id)/lifecycle", #"{"event": "reauthorizationRequired"}"#, control: true).status == 204)
                #expect(receiver.received.withLock { $0["hook/lifecycle"]?.first }?["value"].arrayValue?.first?["lifecycleEvent"] == "reauthorizationRequired")
                #expect(try await g.post("/subscriptions/\(id)/lifecycle", #"{"event": "subscriptionRemoved"}"#, control: true).status == 204)
                #expect(try await g.get("/subscriptions/\(id)").status == 404)

                // Refused: an endpoint that echoes the token wrongly, an expiry past Graph's maximum, plain http off loopback.
                receiver.garble.withLock { $0 = true }
                #expect(try await subscribe().status == 400)
                receiver.garble.withLock { $0 = false }
                let tooLate = ISO8601DateFormatter().string(from: Date().addingTimeInterval(8 * 86_400))
                #expect(try await subscribe(expiration: tooLate).status == 400)
                let remote = try await g.post("/subscriptions", """
                    {"changeType": "created", "notificationUrl": "http://hooks.example.com/n", "resource": "me/messages", "expirationDateTime": "\(expires)"}
                    """)
                #expect(remote.status == 400)
            }
        }
    }
}
