import Cryptography
public import Foundation

/// Stripe: `Stripe-Signature: t=…,v1=…[,v1=…]`, HMAC-SHA256 over `t.body` with the whole `whsec_`
/// secret as key; any `v1` may match (several while a secret rolls); `t` within the tolerance.
public struct StripeVerifier: ImmediateWebhookVerifier {
    public var tolerance: TimeInterval

    public init(tolerance: TimeInterval = 300) { self.tolerance = tolerance }

    public func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome {
        guard let header = request.headers["stripe-signature"] else { throw .unauthenticated("no Stripe-Signature header") }
        // Parsed as bytes: every delivery passes here, and Character-wise splitting is far slower.
        var stamp: Substring.UTF8View?
        var signatures: [[UInt8]] = []
        for item in header.utf8.split(separator: UInt8(ascii: ",")) {
            guard let eq = item.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = Self.trimmingSpaces(item[..<eq]), value = Self.trimmingSpaces(item[item.index(after: eq)...])
            if key.elementsEqual("t".utf8) { stamp = value }
            if key.elementsEqual("v1".utf8), let bytes = Digest.hexDecode(Substring(value)) { signatures.append(bytes) }
        }
        guard let stamp, stamp.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let timestamp = Int(Substring(stamp)) else {
            throw .unauthenticated("the Stripe-Signature header has no valid t (Unix seconds)")
        }
        guard !signatures.isEmpty else { throw .unauthenticated("the Stripe-Signature header has no v1 signature") }
        // The signed payload is `t` exactly as sent, a dot, and the body's bytes.
        var signed: [UInt8] = []
        signed.reserveCapacity(stamp.count + 1 + request.body.count)
        signed += stamp
        signed.append(UInt8(ascii: "."))
        signed += request.body
        let expected = Digest.hmacSHA256(key: try endpoint.sharedSecret(), data: signed)
        // Check every candidate, so the time taken does not depend on which one matched.
        var matched = false
        for signature in signatures where Digest.constantTimeEquals(signature, expected) { matched = true }
        guard matched else { throw .unauthenticated("no v1 signature matches") }
        guard WebhookPayload.isFresh(Date(timeIntervalSince1970: TimeInterval(timestamp)), now: now, tolerance: tolerance) else {
            throw .stale("the Stripe-Signature timestamp is outside the \(Int(tolerance)) s tolerance")
        }
        let event = try WebhookPayload.head(request.body)
        return .store(VerifiedEvent(eventID: try event.required(event.id, "id"), eventType: try event.required(event.type, "type")),
                      status: 200)
    }

    /// `text` without surrounding spaces and tabs (HTTP's optional whitespace around list items).
    static func trimmingSpaces(_ text: Substring.UTF8View) -> Substring.UTF8View {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else {
            return text[text.endIndex...]
        }
        return text[first...last]
    }
}

/// Zendesk: `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret as UTF-8, timestamp + body)),
/// the timestamp an ISO 8601 string, refused outside the tolerance (Zendesk sets none; we do).
public struct ZendeskVerifier: ImmediateWebhookVerifier {
    public var tolerance: TimeInterval

    public init(tolerance: TimeInterval = 300) { self.tolerance = tolerance }

    public func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome {
        guard let signature = request.headers["x-zendesk-webhook-signature"].flatMap({ Digest.base64URLDecode($0) }),
              let stamp = request.headers["x-zendesk-webhook-signature-timestamp"] else {
            throw .unauthenticated("no X-Zendesk-Webhook-Signature and timestamp")
        }
        let expected = Digest.hmacSHA256(key: try endpoint.sharedSecret(), data: Array(stamp.utf8) + request.body)
        guard Digest.constantTimeEquals(signature, expected) else { throw .unauthenticated("the Zendesk signature does not match") }
        guard let time = WebhookPayload.iso8601(stamp), WebhookPayload.isFresh(time, now: now, tolerance: tolerance) else {
            throw .stale("the Zendesk signature timestamp is outside the \(Int(tolerance)) s tolerance")
        }
        let event = try WebhookPayload.head(request.body)
        return .store(VerifiedEvent(eventID: try event.required(event.id, "id"), eventType: try event.required(event.type, "type")),
                      status: 200)
    }
}

/// Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1(client secret, body)>`. Nothing is signed with a
/// time, so a notification whose `created_at` is older than `maximumAge` is refused; within it,
/// replays are caught by the event id.
public struct IntercomVerifier: ImmediateWebhookVerifier {
    public var maximumAge: TimeInterval

    public init(maximumAge: TimeInterval = 86_400) { self.maximumAge = maximumAge }

    public func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome {
        guard let header = request.headers["x-hub-signature"], header.hasPrefix("sha1="),
              let signature = Digest.hexDecode(header.dropFirst(5)) else {
            throw .unauthenticated("no X-Hub-Signature sha1= header")
        }
        guard Digest.constantTimeEquals(signature, Digest.hmacSHA1(key: try endpoint.sharedSecret(), data: request.body)) else {
            throw .unauthenticated("the Intercom signature does not match")
        }
        let event = try WebhookPayload.head(request.body)
        // Nothing else bounds a replay of a signed notification: one without a time is refused.
        guard let created = event.created_at else { throw .malformed("an Intercom notification needs created_at") }
        guard now.timeIntervalSince1970 - created <= maximumAge else {
            throw .stale("the notification was created more than \(Int(maximumAge)) s ago")
        }
        return .store(VerifiedEvent(eventID: try event.required(event.id, "id"), eventType: try event.required(event.topic, "topic")),
                      status: 200)
    }
}

/// Google Calendar push: `X-Goog-Channel-Token` must equal the endpoint's token (set on
/// `events.watch`); each notification is `channel id : message number`, so a retry dedupes.
public struct GoogleCalendarVerifier: ImmediateWebhookVerifier {
    public init() {}

    public func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome {
        guard let token = request.headers["x-goog-channel-token"],
              Digest.constantTimeEquals(Array(token.utf8), try endpoint.sharedSecret()) else {
            throw .unauthenticated("the X-Goog-Channel-Token does not match")
        }
        guard let channel = request.headers["x-goog-channel-id"], !channel.isEmpty,
              let number = request.headers["x-goog-message-number"], UInt64(number) != nil,
              let state = request.headers["x-goog-resource-state"] else {
            throw .malformed("a Calendar notification needs X-Goog-Channel-ID, X-Goog-Message-Number and X-Goog-Resource-State")
        }
        return .store(VerifiedEvent(eventID: "\(channel):\(number)", eventType: "calendar.\(state)"), status: 200)
    }
}

/// Microsoft Graph: the validation handshake echoes `validationToken` as text/plain; a
/// notification batch is accepted when every `clientState` equals the endpoint's secret.
public struct MicrosoftGraphVerifier: ImmediateWebhookVerifier {
    /// Graph's tokens are short opaque strings; nothing longer is echoed.
    static let maximumValidationTokenLength = 1024

    public init() {}

    public func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome {
        if let token = request.query["validationToken"] {
            // Echoed as Graph asks, and only as that: on a POST, short, as plain text (the reply
            // also carries `X-Content-Type-Options: nosniff`), so the endpoint cannot serve a page.
            guard request.method == "POST" else { throw .malformed("the validation handshake is a POST") }
            guard token.utf8.count <= Self.maximumValidationTokenLength else {
                throw .malformed("the validationToken is longer than \(Self.maximumValidationTokenLength) bytes")
            }
            return .respond(status: 200, contentType: "text/plain; charset=utf-8", body: token)
        }
        let payload = try WebhookPayload.object(request.body)
        guard let notifications = payload["value"] as? [[String: Any]], !notifications.isEmpty else {
            throw .malformed("a Graph notification needs a non-empty \"value\" array")
        }
        for notification in notifications {
            let state = (notification["clientState"] as? String) ?? ""
            guard Digest.constantTimeEquals(Array(state.utf8), try endpoint.sharedSecret()) else {
                throw .unauthenticated("a notification's clientState does not match")
            }
        }
        // One request may carry several notifications; it is stored whole, keyed by its digest.
        return .store(VerifiedEvent(eventID: WebhookPayload.digestID(request.body), eventType: "graph.notifications"), status: 202)
    }
}

/// Mailchimp signs nothing: the URL carries a secret (`?secret=`), compared in constant time.
/// A GET is the validation ping sent when the webhook is saved. Bodies are form-encoded.
public struct MailchimpVerifier: ImmediateWebhookVerifier {
    public init() {}

    public func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome {
        guard let secret = request.query["secret"], Digest.constantTimeEquals(Array(secret.utf8), try endpoint.sharedSecret()) else {
            throw .unauthenticated("the URL secret does not match")
        }
        if request.method == "GET" { return .respond(status: 200, contentType: "text/plain", body: "ok") }
        let form = String(decoding: request.body, as: UTF8.self)
        let type = form.split(separator: "&").lazy.compactMap { pair -> String? in
            let parts = pair.split(separator: "=", maxSplits: 1)
            return parts.count == 2 && parts[0] == "type" ? String(parts[1]).removingPercentEncoding : nil
        }.first
        guard let type, !type.isEmpty else { throw .malformed("a Mailchimp webhook body needs a type field") }
        return .store(VerifiedEvent(eventID: WebhookPayload.digestID(request.body), eventType: type), status: 200)
    }
}
