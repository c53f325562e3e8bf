import Platform
import TestSupport
import Testing

@Suite(.hangGuard) struct ServiceSettingsTests {
    @Test func defaultsGiveEachServiceItsOwnPorts() throws {
        var seen = Set<Int>()
        for service in ServiceSettings.services {
            let s = try ServiceSettings(service: service, environment: [:])
            #expect(seen.insert(s.rpcPort).inserted && seen.insert(s.adminPort).inserted)
        }
        #expect(try ServiceSettings(service: "billing", environment: [:]).rpcPort == 7003)
    }

    @Test func environmentOverrides() throws {
        let s = try ServiceSettings(service: "billing", environment: [
            "NEXA_BILLING_RPC_PORT": "9000", "NEXA_DATABASE_URL": "postgresql://x@h/db", "NEXA_LOG_LEVEL": "DEBUG",
        ])
        #expect(s.rpcPort == 9000 && s.databaseURL == "postgresql://x@h/db" && s.logLevel == "debug")
    }

    @Test func rpcAndAdminListenOnLoopbackUnlessEachIsSetApart() throws {
        let defaults = try ServiceSettings(service: "billing", environment: [:])
        #expect(defaults.rpcBindHost == "127.0.0.1" && defaults.adminBindHost == "127.0.0.1")
        let split = try ServiceSettings(service: "billing", environment: ["NEXA_RPC_BIND_HOST": "10.0.0.5"])
        #expect(split.rpcBindHost == "10.0.0.5" && split.adminBindHost == "127.0.0.1")
        // The old single address would publish every port at once: refused, naming the replacements.
        #expect(throws: ConfigurationError.self) { try ServiceSettings(service: "billing", environment: ["NEXA_BIND_HOST": "0.0.0.0"]) }
    }

    @Test(arguments: [
        ("NEXA_BILLING_RPC_PORT", "seventy"),
        ("NEXA_BILLING_ADMIN_PORT", "70000"),
        ("NEXA_LOG_LEVEL", "loud"),
        ("NEXA_RPC_MAX_IN_FLIGHT", "0"),
        ("NEXA_RPC_MAX_CONNECTIONS", "0"),
        ("NEXA_BIND_HOST", "0.0.0.0"),
        ("NEXA_RPC_TLS_CERT", "/etc/nexa/billing.pem"),  // without its key and CA
    ])
    func invalidValuesNameTheVariable(variable: String, value: String) {
        #expect(throws: ConfigurationError.self) { try ServiceSettings(service: "billing", environment: [variable: value]) }
        do {
            _ = try ServiceSettings(service: "billing", environment: [variable: value])
        } catch {
            #expect(error.description.contains(variable))
        }
    }

    @Test func providerURLsDefaultToTheProvidersAndPointAtTheSandboxByConfiguration() throws {
        let real = try ServiceSettings(service: "billing", environment: [:]).providers
        #expect(real.stripeAPI == "https://api.stripe.com" && real.gmailAPI == "https://gmail.googleapis.com")
        let sandbox = try ServiceSettings(service: "billing", environment: ["NEXA_STRIPE_API_URL": "http://127.0.0.1:7300/stripe/"]).providers
        #expect(sandbox.stripeAPI == "http://127.0.0.1:7300/stripe")
        #expect(throws: ConfigurationError.self) { try ServiceSettings(service: "billing", environment: ["NEXA_STRIPE_API_URL": "api.stripe.com"]) }
        #expect(throws: ConfigurationError.self) { try ServiceSettings(service: "billing", environment: ["NEXA_SMTP_URL": "http://mail"]) }
    }

    @Test func loggedConfigurationHidesThePassword() throws {
        let s = try ServiceSettings(service: "billing", environment: ["NEXA_DATABASE_URL": "postgresql://nexa:hunter2@db:5432/nexa"])
        #expect(s.loggable["database_url"] == "postgresql://nexa:***@db:5432/nexa")
        #expect(!s.loggable.values.contains { $0.contains("hunter2") })
    }
}
