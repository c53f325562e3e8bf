import CRM
import TestSupport
import Testing

/// What mail headers carry, reduced to the addresses a CRM matches on.
@Suite(.hangGuard) struct EmailAddressesTests {
    @Test(arguments: [
        ("ana@example.com", ["ana@example.com"]),
        ("  ANA@Example.COM ", ["ana@example.com"]),
        (#""Ana Demo" <ANA@Example.com>"#, ["ana@example.com"]),
        ("Ana Demo <ana@example.com>", ["ana@example.com"]),
        (#""Demo, Ana" <ana@example.com>, bob@example.org"#, ["ana@example.com", "bob@example.org"]),
        (#""Ana <ana@fake.test>" <ana@example.com>"#, ["ana@example.com"]),
        ("ana@example.com (Ana Demo), Bob <BOB@example.org>", ["ana@example.com", "bob@example.org"]),
        ("Sales team: ana@example.com, Bob <bob@example.org>;, carol@example.net", ["ana@example.com", "bob@example.org", "carol@example.net"]),
        ("Undisclosed recipients:;", []),
        ("ana@example.com, Ana <ANA@example.com>", ["ana@example.com"]),
        ("not an address, <also not>, @example.com, ana@localhost", []),
        ("", []),
    ])
    func parsesHeaderValues(header: String, expected: [String]) {
        #expect(EmailAddresses.parse(header) == expected)
    }

    @Test func normalizesOneAddress() {
        #expect(EmailAddresses.normalize(" Ana@Example.com\t") == "ana@example.com")
        #expect(EmailAddresses.normalize("ana@example") == nil)
        #expect(EmailAddresses.normalize("ana example@x.org") == nil)
        #expect(EmailAddresses.normalize("@x.org") == nil)
        #expect(EmailAddresses.normalize("ana@.org") == nil && EmailAddresses.normalize("ana@x.org.") == nil)
        #expect(EmailAddresses.normalize("a@b@X.org") == "a@b@x.org", "the domain follows the last @")
        // Beyond ASCII: the general path, with the same rules.
        #expect(EmailAddresses.normalize("\u{00A0}José@Exámple.COM ") == "josé@exámple.com")
        #expect(EmailAddresses.normalize("jo sé@exámple.com") == nil)
    }
}
