import Sandbox
import TestSupport
import Testing

@Suite(.hangGuard) struct FormBodyTests {
    @Test func bracketNotationBecomesATree() throws {
        let form = try FormBody("customer=cus_123&items[0][price]=price_abc&items[0][quantity]=2&items[1][price]=p2&metadata[crm_account_id]=acct_42&expand[]=latest_invoice&expand[]=customer")
        #expect(form["customer"]?.string == "cus_123")
        let items = try #require(form["items"]).list
        #expect(items.count == 2)
        #expect(items[0]["price"]?.string == "price_abc" && items[0]["quantity"]?.string == "2")
        #expect(items[1]["price"]?.string == "p2")
        #expect(form["metadata"]?.stringMap == ["crm_account_id": "acct_42"])
        #expect(form["expand"]?.list.compactMap(\.string) == ["latest_invoice", "customer"])
    }

    @Test func percentEncodingAndPlusAreDecoded() throws {
        let form = try FormBody("name=Ana+Mar%C3%ADa&items%5B0%5D%5Bprice%5D=p1&description=")
        #expect(form["name"]?.string == "Ana María")
        #expect(form["items"]?.list.first?["price"]?.string == "p1")
        #expect(form["description"]?.string == "")
    }

    @Test(arguments: ["items[0=1", "[x]=1", "a=%zz", "a=%C3"])
    func malformedInputIsAnError(body: String) {
        #expect(throws: FormError.self) { try FormBody(body) }
    }
}
