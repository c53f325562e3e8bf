import Messages
import ProtoSchema
import RPC
import TestSupport
import Testing

/// The generated Swift must agree with the protobuf-c descriptors it was generated from.
@Suite(.hangGuard) struct GeneratedCodeTests {
    let schema = Schema.compiled()

    var generated: [ServiceDescriptor] {
        [
            GatewayV1.GatewayService.descriptor, EmailCalendarV1.EmailCalendarService.descriptor,
            BillingV1.BillingService.descriptor, MarketingV1.MarketingService.descriptor,
            SupportV1.SupportService.descriptor, DataTransferV1.DataTransferService.descriptor,
        ]
    }

    @Test func everyCompiledServiceIsGeneratedWithTheSameMethodsInTheSameOrder() throws {
        #expect(schema.services.count == 6)
        for service in schema.services {
            let swift = try #require(generated.first { $0.name == service.fullName }, "\(service.fullName) not generated")
            #expect(swift.methods.map(\.name) == service.methods.map(\.name))
            #expect(swift.methods.map(\.inputType) == service.methods.map(\.inputType))
            #expect(swift.methods.map(\.outputType) == service.methods.map(\.outputType))
            #expect(swift.methods.map(\.index) == Array(0..<UInt32(service.methods.count)))
        }
    }

    @Test func everyServiceStartsWithHealthReflectionAndEcho() {
        for service in generated {
            #expect(Array(service.methods.prefix(3).map(\.name)) == ["Check", "ListMethods", "Echo"])
            #expect(service.methods[0].isPublic)
            #expect(!service.methods[1].isPublic && !service.methods[2].isPublic)
        }
    }

    @Test func everyRequestCarriesTheContextAsField1() {
        let inputs = Set(schema.services.flatMap { $0.methods.map(\.inputType) })
        for input in inputs {
            let message = schema.messages.first { $0.fullName == input }
            #expect(message?.fields.first?.number == 1)
            #expect(message?.fields.first?.kind == .message("nexa.rpc.v1.RequestContext"))
        }
    }
}
