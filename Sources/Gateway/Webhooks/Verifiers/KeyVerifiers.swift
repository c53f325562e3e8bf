import Cryptography
public import CurlHTTP
public import Foundation
import Synchronization

/// SendGrid's signed event webhook: ECDSA P-256 with SHA-256 over `timestamp + body`, the key
/// (base64 DER SubjectPublicKeyInfo) in the endpoint's `public_key`. The official helpers check no
/// time; we refuse timestamps outside the tolerance.
public struct SendGridVerifier: ImmediateWebhookVerifier {
    public var tolerance: TimeInterval

    public init(tolerance: TimeInterval = 300) { self.tolerance = tolerance }

    public func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome {
        guard let der = endpoint.config["public_key"].flatMap({ Digest.base64URLDecode($0) }),
              let key = try? PublicKey(subjectPublicKeyInfo: der) else {
            throw .unauthenticated("the endpoint has no usable SendGrid public key")
        }
        guard let signature = request.headers["x-twilio-email-event-webhook-signature"].flatMap({ Digest.base64URLDecode($0) }),
              let stamp = request.headers["x-twilio-email-event-webhook-timestamp"], let seconds = Int(stamp) else {
            throw .unauthenticated("no X-Twilio-Email-Event-Webhook-Signature and timestamp")
        }
        guard key.verifySHA256(signature, message: Array(stamp.utf8) + request.body) else {
            throw .unauthenticated("the SendGrid signature does not verify")
        }
        guard WebhookPayload.isFresh(Date(timeIntervalSince1970: TimeInterval(seconds)), now: now, tolerance: tolerance) else {
            throw .stale("the SendGrid timestamp is outside the \(Int(tolerance)) s tolerance")
        }
        guard (try? JSONSerialization.jsonObject(with: Data(request.body))) is [Any] else {
            throw .malformed("a SendGrid event body is a JSON array")
        }
        // A batch of events: stored whole, keyed by its digest; handlers dedupe on sg_event_id.
        return .store(VerifiedEvent(eventID: WebhookPayload.digestID(request.body), eventType: "sendgrid.events"), status: 200)
    }
}

/// PayPal, offline: RSA-SHA256 over `transmission id|time|webhook id|CRC-32 of body (decimal)`,
/// checked with the certificate at `PAYPAL-CERT-URL`, fetched only from an allowed host and cached.
public struct PayPalVerifier: WebhookVerifier {
    public var tolerance: TimeInterval
    private let certificates: RemoteKeyCache<PublicKey>
    private let allowedCertificateHosts: [String]

    /// - Parameter allowedCertificateHosts: host suffixes (`paypal.com`) a certificate may come from.
    public init(http: HTTPClient, allowedCertificateHosts: [String], tolerance: TimeInterval = 300) {
        self.tolerance = tolerance
        self.allowedCertificateHosts = allowedCertificateHosts
        certificates = RemoteKeyCache(http: http, timeToLive: 24 * 3600) { body in try? PublicKey(certificatePEM: body) }
    }

    public func verify(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) async throws(WebhookRejection) -> WebhookOutcome {
        let h = request.headers
        guard let id = h["paypal-transmission-id"], let time = h["paypal-transmission-time"],
              let signature = h["paypal-transmission-sig"].flatMap({ Digest.base64URLDecode($0) }),
              let certificateURL = h["paypal-cert-url"], let algorithm = h["paypal-auth-algo"] else {
            throw .unauthenticated("the PAYPAL-TRANSMISSION-* and PAYPAL-CERT-URL headers are required")
        }
        guard algorithm == "SHA256withRSA" else { throw .unauthenticated("unsupported PAYPAL-AUTH-ALGO \(algorithm)") }
        guard let webhookID = endpoint.config["webhook_id"] else { throw .unauthenticated("the endpoint has no PayPal webhook_id") }
        guard let host = URLComponents(string: certificateURL)?.host?.lowercased(),
              allowedCertificateHosts.contains(where: { host == $0 || host.hasSuffix("." + $0) }) else {
            throw .unauthenticated("the certificate URL is not on an allowed PayPal host")
        }
        let key = try await certificates.value(at: certificateURL)
        let message = "\(id)|\(time)|\(webhookID)|\(Digest.crc32(request.body))"
        guard key.verifySHA256(signature, message: Array(message.utf8)) else {
            throw .unauthenticated("the PayPal transmission signature does not verify")
        }
        guard let sent = WebhookPayload.iso8601(time), WebhookPayload.isFresh(sent, now: now, tolerance: tolerance) else {
            throw .stale("the PayPal transmission time is outside the \(Int(tolerance)) s tolerance")
        }
        let event = try WebhookPayload.head(request.body)
        return .store(VerifiedEvent(eventID: try event.required(event.id, "id"), eventType: try event.required(event.event_type, "event_type")),
                      status: 200)
    }
}

/// Gmail through Cloud Pub/Sub authenticated push: `Authorization: Bearer <OIDC JWT>`, RS256 under
/// Google's JWKS (cached by `kid`), issuer Google, audience and service account as configured on
/// the endpoint (`audience`, `service_account`), within its validity (60 s skew).
public struct GooglePubSubVerifier: WebhookVerifier {
    private let jwks: RemoteKeyCache<[String: PublicKey]>
    private let jwksURL: String
    public var clockSkew: TimeInterval = 60

    public init(http: HTTPClient, jwksURL: String) {
        self.jwksURL = jwksURL
        jwks = RemoteKeyCache(http: http, timeToLive: 3600) { body in
            guard let document = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
                  let keys = document["keys"] as? [[String: Any]] else { return nil }
            var byID: [String: PublicKey] = [:]
            for jwk in keys {
                guard jwk["kty"] as? String == "RSA", let kid = jwk["kid"] as? String,
                      let n = (jwk["n"] as? String).flatMap({ Digest.base64URLDecode($0) }),
                      let e = (jwk["e"] as? String).flatMap({ Digest.base64URLDecode($0) }),
                      let key = try? PublicKey(rsaModulus: n, exponent: e) else { continue }
                byID[kid] = key
            }
            return byID
        }
    }

    public func verify(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) async throws(WebhookRejection) -> WebhookOutcome {
        guard let authorization = request.headers["authorization"], authorization.hasPrefix("Bearer ") else {
            throw .unauthenticated("no bearer token")
        }
        let parts = authorization.dropFirst(7).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let header = Digest.base64URLDecode(parts[0]).flatMap({ try? JSONSerialization.jsonObject(with: Data($0)) }) as? [String: Any],
              let claims = Digest.base64URLDecode(parts[1]).flatMap({ try? JSONSerialization.jsonObject(with: Data($0)) }) as? [String: Any],
              let signature = Digest.base64URLDecode(parts[2]) else {
            throw .unauthenticated("the bearer token is not a JWT")
        }
        guard header["alg"] as? String == "RS256", let kid = header["kid"] as? String else {
            throw .unauthenticated("the token is not RS256 with a kid")
        }
        var key = try await jwks.value(at: jwksURL)[kid]
        if key == nil { key = try await jwks.refreshed(at: jwksURL)[kid] }  // Google rotates keys
        guard let key, key.verifySHA256(signature, message: Array("\(parts[0]).\(parts[1])".utf8)) else {
            throw .unauthenticated("the token signature does not verify")
        }
        guard let issuer = claims["iss"] as? String, issuer == "https://accounts.google.com" || issuer == "accounts.google.com" else {
            throw .unauthenticated("the token was not issued by Google")
        }
        guard let audience = endpoint.config["audience"], claims["aud"] as? String == audience else {
            throw .unauthenticated("the token audience does not match the endpoint")
        }
        // Any Google service account can mint a token for our audience: only the configured one counts.
        guard let account = endpoint.config["service_account"], !account.isEmpty else {
            throw .unauthenticated("the endpoint has no service_account configured")
        }
        guard claims["email"] as? String == account, claims["email_verified"] as? Bool == true else {
            throw .unauthenticated("the token is not from the configured service account")
        }
        let nowSeconds = now.timeIntervalSince1970
        guard let exp = (claims["exp"] as? NSNumber)?.doubleValue, let iat = (claims["iat"] as? NSNumber)?.doubleValue,
              exp + clockSkew >= nowSeconds, iat - clockSkew <= nowSeconds else {
            throw .stale("the token has expired or is not valid yet")
        }
        let push = try WebhookPayload.object(request.body)
        guard let message = push["message"] as? [String: Any],
              let id = (message["messageId"] as? String) ?? (message["message_id"] as? String) else {
            throw .malformed("a Pub/Sub push needs message.messageId")
        }
        return .store(VerifiedEvent(eventID: id, eventType: "gmail.notification"), status: 200)
    }
}

/// Remote key material (JWKS, certificates), fetched and parsed at most once per `timeToLive`.
final class RemoteKeyCache<Value: Sendable>: Sendable {
    private let http: HTTPClient
    private let timeToLive: TimeInterval
    private let parse: @Sendable ([UInt8]) -> Value?
    private let entries = Mutex<[String: (value: Value, fetched: Date)]>([:])
    private let minimumRefreshInterval: TimeInterval = 30

    init(http: HTTPClient, timeToLive: TimeInterval, parse: @escaping @Sendable ([UInt8]) -> Value?) {
        self.http = http
        self.timeToLive = timeToLive
        self.parse = parse
    }

    func value(at url: String) async throws(WebhookRejection) -> Value {
        if let entry = entries.withLock({ $0[url] }), Date().timeIntervalSince(entry.fetched) < timeToLive { return entry.value }
        return try await fetch(url)
    }

    /// Fetches again unless the last fetch was moments ago (an unknown `kid` must not turn into a
    /// request per delivery).
    func refreshed(at url: String) async throws(WebhookRejection) -> Value {
        if let entry = entries.withLock({ $0[url] }), Date().timeIntervalSince(entry.fetched) < minimumRefreshInterval { return entry.value }
        return try await fetch(url)
    }

    private func fetch(_ url: String) async throws(WebhookRejection) -> Value {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(HTTPClientRequest(url: url), retry: .standard)
        } catch {
            throw .unavailable("cannot fetch verification keys: \(error)")
        }
        guard response.status == 200, let value = parse(response.body) else {
            throw .unavailable("the verification keys at the configured URL are unusable (HTTP \(response.status))")
        }
        entries.withLock { $0[url] = (value, Date()) }
        return value
    }
}
