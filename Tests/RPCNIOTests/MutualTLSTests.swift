import Messages
import NIOCore
import RPC
import RPCNIO
import TestSupport
import Testing

/// RPC over mutual TLS: both sides present certificates from the mesh's CA, the caller's
/// certificate names its service, and anyone else is turned away at the handshake.
@Suite(.hangGuard) struct MutualTLSTests {
    static func tls(_ certificate: String, _ key: String, trusting ca: String = TestMesh.caPEM) throws -> MutualTLS {
        try MutualTLS(certificateChainPEM: Array(certificate.utf8), privateKeyPEM: Array(key.utf8), trustedCAsPEM: Array(ca.utf8))
    }

    static func billing() throws -> MutualTLS { try tls(TestMesh.billingCertificatePEM, TestMesh.billingKeyPEM) }
    static func emailCalendar() throws -> MutualTLS { try tls(TestMesh.emailCalendarCertificatePEM, TestMesh.emailCalendarKeyPEM) }
    static func rogue() throws -> MutualTLS { try tls(TestMesh.rogueCertificatePEM, TestMesh.rogueKeyPEM) }

    /// A call to `port` as `tls` (nil: plaintext), failing fast instead of retrying.
    static func whoAmI(port: Int, host: String = "127.0.0.1", tls: MutualTLS?) async throws -> String {
        let client = makeClient(port: port) {
            $0.targets = [(host, port)]
            $0.tls = tls
            $0.maximumAttempts = 1
        }
        defer { Task { await client.close() } }
        return try await client.echo(5, timeout: .seconds(10)).text
    }

    @Test func aCallerWithTheMeshsCertificateIsServedAndNamedByIt() async throws {
        let server = makeServer { $0.tls = try? Self.billing() }
        let caller = try Self.emailCalendar()
        try await withRunningServer(server) { port in
            let byAddress = try await Self.whoAmI(port: port, tls: caller)
            // By name too: the server's certificate names localhost.
            let byName = try await Self.whoAmI(port: port, host: "localhost", tls: caller)
            #expect(byAddress == "email_calendar" && byName == "email_calendar")
        }
    }

    @Test func plaintextAndImpostorCallersAreRefusedAtTheHandshake() async throws {
        let (impostor, caller) = (try Self.rogue(), try Self.emailCalendar())
        try await withRunningServer(makeServer { $0.tls = try? Self.billing() }) { port in
            await #expect(throws: RPCError.self) { _ = try await Self.whoAmI(port: port, tls: nil) }
            // A self-signed certificate that claims to be email_calendar.
            await #expect(throws: RPCError.self) { _ = try await Self.whoAmI(port: port, tls: impostor) }
            // The real one still works afterwards.
            let served = try await Self.whoAmI(port: port, tls: caller)
            #expect(served == "email_calendar")
        }
    }

    @Test func aClientRefusesAServerOutsideTheMesh() async throws {
        // The impostor serves; a client of the mesh does not talk to it.
        let caller = try Self.emailCalendar()
        _ = try await withRunningServer(makeServer { $0.tls = try? Self.rogue() }) { port in
            await #expect(throws: RPCError.self) { _ = try await Self.whoAmI(port: port, tls: caller) }
        }
    }

    @Test func plaintextServersProveNoIdentity() async throws {
        try await withRunningServer(makeServer()) { port in
            let served = try await Self.whoAmI(port: port, tls: nil)
            #expect(served == "(no identity)")
        }
    }
}
