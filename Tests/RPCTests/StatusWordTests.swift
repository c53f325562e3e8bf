import RPC
import TestSupport
import Testing

@Suite(.hangGuard) struct StatusWordTests {
    @Test(arguments: 0...16)
    func everyCodeSurvivesTheWire(raw: Int) {
        let code = StatusCode(rawValue: raw)
        #expect(StatusWord.code(for: StatusWord.word(for: code)) == code)
    }

    @Test func successIsProtobufCRPCsSuccess() {
        #expect(StatusWord.word(for: .ok) == 0)
    }

    @Test func failuresAreNeverZeroAndNeverTheReferenceWords() {
        for raw in 1...16 {
            let word = StatusWord.word(for: StatusCode(rawValue: raw))
            #expect(word != 0 && word != 1 && word != 2)
        }
    }

    @Test func referenceWordsMapToTheirMeaning() {
        #expect(StatusWord.code(for: 1) == .unknown)  // SERVICE_FAILED
        #expect(StatusWord.code(for: 2) == .resourceExhausted)  // TOO_MANY_PENDING
        #expect(StatusWord.code(for: 0x10000) == .unknown)
        #expect(StatusWord.code(for: 0x100 + 17) == .unknown)
    }

    @Test func codesHaveGRPCNames() {
        #expect(StatusCode.deadlineExceeded.description == "DEADLINE_EXCEEDED")
        #expect(StatusCode(name: "UNAUTHENTICATED") == .unauthenticated)
        #expect(StatusCode(name: "NOPE") == nil)
        #expect(StatusCode(rawValue: 99) == .unknown)
    }
}

@Suite(.hangGuard) struct ErrorConversionTests {
    struct Hidden: Error {}

    @Test func foreignErrorsBecomeInternalWithoutDetail() {
        let error = RPCError(converting: Hidden())
        #expect(error.code == .internalError)
        #expect(error.message == "internal error")
    }

    @Test func cancellationBecomesCancelled() {
        #expect(RPCError(converting: CancellationError()).code == .cancelled)
    }

    @Test func rpcErrorsPassThrough() {
        #expect(RPCError(converting: RPCError(.notFound, "no such deal")) == RPCError(.notFound, "no such deal"))
    }
}

@Suite(.hangGuard) struct DescriptorTests {
    @Test(arguments: [
        ("nexa.billing.v1.BillingService", "billing"),
        ("nexa.email_calendar.v1.EmailCalendarService", "email_calendar"),
        ("nexa.data_transfer.v1.DataTransferService", "data_transfer"),
    ])
    func shortNames(full: String, short: String) {
        #expect(ServiceDescriptor(name: full, methods: []).shortName == short)
    }

    @Test func methodLookup() {
        let d = ServiceDescriptor(name: "x.v1.XService", methods: [
            MethodDescriptor(index: 0, name: "Check", inputType: "a", outputType: "b"),
        ])
        #expect(d.method(at: 0)?.name == "Check")
        #expect(d.method(at: 1) == nil)
        #expect(d.method(named: "Check")?.index == 0)
    }
}

@Suite(.hangGuard) struct CallOptionsTests {
    @Test func metadataCarriesTimeoutKeyAndRichErrors() {
        let options = CallOptions(timeout: .milliseconds(1500), apiKey: "k", workspaceID: "w", requestID: "r")
        let m = options.metadata(merging: CallMetadata())
        #expect(m.timeoutMilliseconds == 1500)
        #expect(m.apiKey == "k")
        #expect(m.workspaceID == "w")
        #expect(m.requestID == "r")
        #expect(m.wantsRichErrors)
    }

    @Test func descriptionNeverShowsTheKey() {
        let m = CallMetadata(apiKey: "nexa_secret_value")
        #expect(!"\(m)".contains("secret"))
    }

    @Test func expiredDeadlineIsRefusedBeforeTheHandler() async throws {
        struct Never: CallAuthenticator {
            func authenticate(_: CallMetadata, service: ServiceDescriptor, method: MethodDescriptor) async throws -> Principal {
                Issue.record("must not authenticate past the deadline")
                return Principal(keyID: "", workspaceID: "")
            }
        }
        let environment = ServerEnvironment(
            authenticator: Never(), health: HealthStatus(), receivedAt: .now.advanced(by: .seconds(-1)))
        let method = MethodDescriptor(index: 0, name: "M", inputType: "a", outputType: "b")
        await #expect(throws: RPCError.self) {
            try await environment.prepare(CallMetadata(timeoutMilliseconds: 10), method: method, service: .init(name: "s", methods: [method]))
        }
    }
}
