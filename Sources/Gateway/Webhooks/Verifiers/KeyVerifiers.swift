import Cryptography
public import CurlHTTP
public import Foundation
import Platform
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
/// checked with the certificate at `PAYPAL-CERT-URL`. The URL must be https on one of PayPal's
/// certificate hosts, exactly, under `/v1/notifications/certs/`; the certificate must chain to the
/// configured CA bundle; each URL is fetched once and cached (a refusal too), and new URLs are
/// fetched at a bounded rate, so deliveries that are not yet authenticated cannot make the gateway
/// fetch at will.
public struct PayPalVerifier: WebhookVerifier {
    public var tolerance: TimeInterval
    private let certificates: RemoteKeyCache<PublicKey>
    private let allowedOrigins: Set<String>

    /// PayPal's certificate hosts, live and sandbox.
    public static let certificateHosts = ["api.paypal.com", "api.sandbox.paypal.com"]
    static let certificatePath = "/v1/notifications/certs/"

    /// - Parameters:
    ///   - allowedCertificateOrigins: hosts (meaning `https://host`) or whole origins
    ///     (`http://127.0.0.1:7300`, for a stand-in) a certificate may come from, compared exactly.
    ///   - trustedCertificatesPEM: the CA bundle a certificate must chain to; nil refuses every delivery.
    public init(http: HTTPClient, allowedCertificateOrigins: [String] = certificateHosts, trustedCertificatesPEM: [UInt8]?,
                tolerance: TimeInterval = 300) {
        self.tolerance = tolerance
        allowedOrigins = Set(allowedCertificateOrigins.map { ($0.contains("://") ? $0 : "https://" + $0).lowercased() })
        certificates = RemoteKeyCache(http: http, timeToLive: 24 * 3600, newURLs: MissBudget(burst: 20, perSecond: 1.0 / 60)) { body in
            guard let trustedCertificatesPEM else { return nil }
            return try? PublicKey(verifiedCertificateChainPEM: body, trustedPEM: trustedCertificatesPEM, at: Date())
        }
    }

    /// Certificates fetched from the network so far.
    public var certificateFetches: Int { certificates.fetches }

    /// Whether `url` may be fetched: a certificate path on an allowed origin, nothing else in it.
    public func isAllowed(certificateURL url: String) -> Bool {
        guard url.utf8.count <= 500, let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
              let host = parts.host?.lowercased(), parts.user == nil, parts.password == nil, parts.query == nil, parts.fragment == nil,
              parts.path.hasPrefix(Self.certificatePath), !parts.path.contains("..") else { return false }
        return allowedOrigins.contains(scheme + "://" + host + (parts.port.map { ":\($0)" } ?? ""))
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
        guard isAllowed(certificateURL: certificateURL) else {
            throw .unauthenticated("the certificate URL is not a PayPal certificate URL (https, PayPal's certificate host, \(Self.certificatePath))")
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
/// With `newURLs` (for URLs taken from requests, which cannot be fetched at will), a URL not
/// fetched before spends from that budget, and unusable material is remembered for 5 minutes as a
/// refusal; a configured URL's unusable answer is only "unavailable" (the provider retries).
final class RemoteKeyCache<Value: Sendable>: Sendable {
    private let http: HTTPClient
    private let timeToLive: TimeInterval
    private let parse: @Sendable ([UInt8]) -> Value?
    private let entries = Mutex<[String: (value: Value, fetched: Date)]>([:])
    private let refusals = BoundedCache<String, String>(capacity: 1000, timeToLive: .seconds(300), negativeTimeToLive: .zero)
    private let newURLs: MissBudget?
    private let minimumRefreshInterval: TimeInterval = 30

    init(http: HTTPClient, timeToLive: TimeInterval, newURLs: MissBudget? = nil, parse: @escaping @Sendable ([UInt8]) -> Value?) {
        self.http = http
        self.timeToLive = timeToLive
        self.newURLs = newURLs
        self.parse = parse
    }

    /// URLs fetched from the network so far (for tests and metrics).
    private let fetchCount = Atomic<Int>(0)
    var fetches: Int { fetchCount.load(ordering: .relaxed) }

    func value(at url: String) async throws(WebhookRejection) -> Value {
        if let entry = entries.withLock({ $0[url] }), Date().timeIntervalSince(entry.fetched) < timeToLive { return entry.value }
        if let refused = refusals.freshValue(for: url) { throw .unauthenticated(refused ?? "the verification keys are unusable") }
        if let newURLs, entries.withLock({ $0[url] == nil }), !newURLs.spend(from: "new key URLs") {
            throw .unavailable("too many new verification key URLs; try again later")
        }
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
        fetchCount.add(1, ordering: .relaxed)
        do {
            response = try await http.execute(HTTPClientRequest(url: url), retry: .standard)
        } catch {
            throw .unavailable("cannot fetch verification keys: \(error)")
        }
        guard response.status == 200, let value = parse(response.body) else {
            guard newURLs != nil, response.status < 500 else {
                throw .unavailable("the verification keys at the configured URL are unusable (HTTP \(response.status))")
            }
            // Not there, or not trusted: remembered, so the same URL does not cost a fetch per delivery.
            let reason = "the verification keys at \(url) are unusable (HTTP \(response.status), or not a trusted certificate)"
            refusals.store(reason, for: url)
            throw .unauthenticated(reason)
        }
        entries.withLock { $0[url] = (value, Date()) }
        return value
    }
}
