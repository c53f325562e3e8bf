import Cryptography
import CurlHTTP
import Foundation
import Sandbox

/// Pub/Sub push subscriptions for Gmail topics: when a watched mailbox changes, the stand-in POSTs
/// the notification to the push endpoint with `Authorization: Bearer <OIDC JWT>` signed by the
/// same key the JWKS publishes, as authenticated push does.
actor PubSubPush {
    struct Subscription: Sendable {
        var name: String
        var topic: String
        var endpoint: String
        var audience: String
        var serviceAccount: String
    }

    /// A push ready to send.
    struct Push: Sendable {
        var endpoint: String
        var body: [UInt8]
        var token: String
    }

    private var subscriptions: [Subscription] = []
    private var messageNumber: UInt64 = 2_070_443_601_311_540
    /// While holding, pushes wait, to be released duplicated or out of order.
    private var holding = false
    private var held: [Push] = []

    func hold() { holding = true }

    /// Ends holding; returns what was held.
    func release() -> [Push] {
        holding = false
        defer { held.removeAll() }
        return held
    }

    /// Keeps the push when holding; otherwise returns it to send now.
    func admit(_ push: Push) -> Push? {
        guard holding else { return push }
        held.append(push)
        return nil
    }

    func add(_ s: Subscription) { subscriptions.append(s) }

    func subscriptions(for topic: String) -> [Subscription] { subscriptions.filter { $0.topic == topic } }

    func nextMessageID() -> String {
        messageNumber += 1
        return String(messageNumber)
    }
}

extension GoogleStandIn {
    /// Pushes `{"emailAddress", "historyId"}` for `user` to every subscription of its watch topic.
    func pushGmailNotification(user: String, historyId: UInt64) async {
        guard let topic = await gmail.watchTopic(user: user) else { return }
        for subscription in await pubsub.subscriptions(for: topic) {
            let data = JSON.object(["emailAddress": .string(user), "historyId": .string(String(historyId))]).encoded()
            let id = await pubsub.nextMessageID()
            let published = CalendarAPI.timestamp(Date())
            let body: JSON = [
                "message": ["data": .string(Data(data).base64EncodedString()), "attributes": [:], "messageId": .string(id),
                            "message_id": .string(id), "publishTime": .string(published), "publish_time": .string(published)],
                "subscription": .string(subscription.name),
            ]
            guard let token = try? oidcToken(audience: subscription.audience, email: subscription.serviceAccount) else { continue }
            if let push = await pubsub.admit(.init(endpoint: subscription.endpoint, body: body.encoded(), token: token)) {
                await send(push)
            }
        }
    }

    func send(_ push: PubSubPush.Push) async {
        _ = try? await sender.execute(.json(push.endpoint, push.body, headers: [.init("Authorization", "Bearer \(push.token)")]),
                                      timeout: .seconds(10))
    }

    /// A Google-signed-style OIDC token for a service account, as Pub/Sub attaches to pushes.
    func oidcToken(audience: String, email: String) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        let claims: JSON = [
            "iss": .string(configuration.issuer), "aud": .string(audience), "azp": "1148234567890123456789",
            "sub": "1148234567890123456789", "email": .string(email), "email_verified": true, "iat": .int(now), "exp": .int(now + 3600),
        ]
        return try signer.sign(claims)
    }
}
