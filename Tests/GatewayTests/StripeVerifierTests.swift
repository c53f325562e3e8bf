import Foundation
@testable import Gateway
import TestSupport
import Testing

/// The `Stripe-Signature` check alone, against the reference's test vector (computed with Stripe's
/// SDK) and the header's variations; the HTTP path is in `WebhookIngressTests`.
@Suite(.hangGuard) struct StripeVerifierTests {
    static let body = Array(#"{"id":"evt_test_1","object":"event","type":"invoice.payment_succeeded"}"#.utf8)
    static let signature = "e8f5b64e0f68e4f48040b2652ec09b976c173610be8872f8b890ddb256135776"
    static let endpoint = WebhookEndpoint(id: "we_test", workspaceID: UUID(), provider: .stripe, secret: Array("whsec_test_secret".utf8),
                                          config: [:], isDisabled: false)
    static let signedAt = Date(timeIntervalSince1970: 1_700_000_000)

    func verify(_ header: String, body: [UInt8] = body, now: Date = signedAt.addingTimeInterval(100)) async throws(WebhookRejection) -> WebhookOutcome {
        try await StripeVerifier().verify(WebhookRequest(method: "POST", headers: ["stripe-signature": header], body: body),
                                          endpoint: Self.endpoint, now: now)
    }

    @Test func acceptsTheReferenceVectorInEveryHeaderShape() async throws {
        let stored = WebhookOutcome.store(VerifiedEvent(eventID: "evt_test_1", eventType: "invoice.payment_succeeded"), status: 200)
        for header in [
            "t=1700000000,v1=\(Self.signature)",
            "t=1700000000, v1=\(Self.signature)",                              // spaces after commas
            "v0=abc,t=1700000000,v1=\(String(repeating: "0", count: 64)),v1=\(Self.signature)",  // v0 ignored; any v1 may match
            "t=1700000000,v1=\(Self.signature.uppercased())",                  // hex in either case
        ] {
            #expect(try await verify(header) == stored, "\(header)")
        }
    }

    @Test func refusesWhatDoesNotMatch() async {
        func rejection(_ header: String, body: [UInt8] = Self.body, now: Date = Self.signedAt.addingTimeInterval(100)) async -> WebhookRejection? {
            do {
                _ = try await verify(header, body: body, now: now)
                return nil
            } catch {
                return error
            }
        }
        let good = "t=1700000000,v1=\(Self.signature)"
        #expect(await rejection("t=1700000001,v1=\(Self.signature)") == .unauthenticated("no v1 signature matches"))
        #expect(await rejection(good, body: Self.body + [0x20]) == .unauthenticated("no v1 signature matches"))
        let noSignature = WebhookRejection.unauthenticated("the Stripe-Signature header has no v1 signature")
        let noTime = WebhookRejection.unauthenticated("the Stripe-Signature header has no valid t (Unix seconds)")
        #expect(await rejection("t=1700000000,v0=\(Self.signature)") == noSignature)
        #expect(await rejection("t=1700000000,v1=\(Self.signature.dropLast())") == noSignature)  // not whole bytes of hex
        #expect(await rejection("v1=\(Self.signature)") == noTime)
        #expect(await rejection("t=+1700000000,v1=\(Self.signature)") == noTime)
        #expect(await rejection("t=,v1=\(Self.signature)") == noTime)
        #expect(await rejection(good, now: Self.signedAt.addingTimeInterval(301))
                == .stale("the Stripe-Signature timestamp is outside the 300 s tolerance"))
    }
}
