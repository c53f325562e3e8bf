import Foundation
import Messages
import TestSupport
import Testing

@Suite(.hangGuard) struct MessageCodingTests {
    /// Our EchoRequest keeps field 1 for the context, so its text and n are fields 2 and 3.
    @Test func encodesWithLibprotobufC() {
        var request = RPCV1.EchoRequest()
        request.text = "hi"
        request.n = 41
        // Field 1 is the context; without it the encoding is text (field 2) then n (field 3).
        #expect(request.serializedBytes() == [0x12, 0x02, 0x68, 0x69, 0x18, 0x29])
    }

    @Test func decodesTheReferenceResponse() throws {
        // EchoResponse is {text = 1, n = 2}: exactly the reference example `0a 02 68 69 10 2a`.
        let response = try RPCV1.EchoResponse(serializedBytes: [0x0a, 0x02, 0x68, 0x69, 0x10, 0x2a])
        #expect(response.text == "hi")
        #expect(response.n == 42)
    }

    @Test func roundTripsNestedRepeatedAndEnumFields() throws {
        var list = RPCV1.ListMethodsResponse()
        list.service = "nexa.billing.v1.BillingService"
        list.methods = (0..<3).map { i in
            var m = RPCV1.MethodInfo()
            m.index = UInt32(i)
            m.name = "Method\(i) – ünïcødé"
            m.inputType = "in.\(i)"
            m.outputType = "out.\(i)"
            return m
        }
        #expect(try RPCV1.ListMethodsResponse(serializedBytes: list.serializedBytes()) == list)

        var health = RPCV1.HealthCheckResponse()
        health.status = .notServing
        #expect(try RPCV1.HealthCheckResponse(serializedBytes: health.serializedBytes()).status == .notServing)
    }

    @Test func roundTripsTheContext() throws {
        var request = RPCV1.HealthCheckRequest()
        var context = RPCV1.RequestContext()
        context.workspaceID = "00000000-0000-4000-8000-000000000001"
        context.apiKey = "nexa_0123456789abcdef_s3cret"
        context.timeoutMs = UInt64.max
        context.richErrors = true
        request.context = context
        request.service = "nexa.billing.v1.BillingService"
        let decoded = try RPCV1.HealthCheckRequest(serializedBytes: request.serializedBytes())
        #expect(decoded == request)
        #expect(decoded.context?.timeoutMs == UInt64.max)
    }

    @Test func defaultsEncodeToNothing() {
        #expect(RPCV1.EchoRequest().serializedBytes().isEmpty)
        #expect(RPCV1.ListMethodsResponse().serializedBytes().isEmpty)
    }

    @Test func unknownEnumValuesAreKept() throws {
        // status = 7 (not a known ServingStatus)
        let decoded = try RPCV1.HealthCheckResponse(serializedBytes: [0x08, 0x07])
        #expect(decoded.status.rawValue == 7)
    }

    @Test(arguments: [
        [0x0a] as [UInt8],  // truncated length-delimited field
        [0x0a, 0x05, 0x68],  // length past the end
        [0x12, 0x02, 0x68],  // truncated
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],  // overlong varint tag
        [0x0b],  // start-group wire type
    ])
    func malformedBytesAreAClearError(bytes: [UInt8]) {
        #expect(throws: MessageError.self) { try RPCV1.EchoRequest(serializedBytes: bytes) }
    }

    @Test func invalidUTF8InAStringIsRejected() {
        #expect(throws: MessageError.self) { try RPCV1.EchoRequest(serializedBytes: [0x12, 0x02, 0xc3, 0x28]) }
    }

    @Test func unknownFieldsAreSkipped() throws {
        // field 15 varint, then text "hi"
        let decoded = try RPCV1.EchoRequest(serializedBytes: [0x78, 0x01, 0x12, 0x02, 0x68, 0x69])
        #expect(decoded.text == "hi")
    }

    @Test func jsonUsesProto3Names() throws {
        var request = RPCV1.EchoRequest()
        var context = RPCV1.RequestContext()
        context.workspaceID = "w"
        request.context = context
        request.text = "hi"
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        #expect(json.contains("\"workspaceId\":\"w\""))
        let decoded = try JSONDecoder().decode(RPCV1.EchoRequest.self, from: Data(#"{"text":"yo","n":5}"#.utf8))
        #expect(decoded.text == "yo" && decoded.n == 5 && decoded.context == nil)
        let health = try JSONDecoder().decode(RPCV1.HealthCheckResponse.self, from: Data(#"{"status":"NOT_SERVING"}"#.utf8))
        #expect(health.status == .notServing)
    }
}
