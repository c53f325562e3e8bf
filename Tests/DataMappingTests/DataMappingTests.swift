import DataMapping
import Foundation
import TestSupport
import Testing

@Suite(.hangGuard) struct DataMappingTests {
    static let invoice = #"""
        {"id": "in_1", "customer_email": "Ana@Example.COM ", "amount_paid": 4999, "status": "paid",
         "status_transitions": {"paid_at": 1700000000}, "paid": true,
         "lines": {"data": [{"price": {"id": "price_pro"}, "quantity": "3"}]}}
        """#

    static let mapping = DataMapping([
        .init("id", "invoice_id", required: true),
        .init("customer_email", "email", .lowercased),
        .init("amount_paid", "amount", .minorUnits(100)),
        .init("status_transitions.paid_at", "paid_at", .unixSeconds),
        .init("lines.data[0].price.id", "price_id"),
        .init("lines.data[0].quantity", "quantity", .integer),
        .init("status", "payment_status", .lookup(["paid": "current", "open": "overdue"])),
        .init("discount.coupon.id", "coupon"),
    ])

    @Test func readsNestedPathsWithTransforms() throws {
        let fields = try Self.mapping.inbound(json: Array(Self.invoice.utf8))
        #expect(fields["invoice_id"] as? String == "in_1")
        #expect(fields["email"] as? String == "ana@example.com ")
        #expect(fields["amount"] as? Decimal == Decimal(string: "49.99"))
        #expect(fields["paid_at"] as? String == "2023-11-14T22:13:20Z")
        #expect(fields["price_id"] as? String == "price_pro")
        #expect(fields["quantity"] as? Int == 3)
        #expect(fields["payment_status"] as? String == "current")
        #expect(fields["coupon"] == nil, "an absent optional source is an absent field")
    }

    @Test func buildsThePayloadBackFromCRMFields() throws {
        let payload = try Self.mapping.outbound([
            "invoice_id": "in_2", "amount": Decimal(string: "12.30")!, "paid_at": "2023-11-14T22:13:20Z",
            "price_id": "price_basic", "quantity": 2, "payment_status": "overdue",
        ])
        #expect(payload["id"] as? String == "in_2")
        #expect(payload["amount_paid"] as? Int == 1230)
        #expect((payload["status_transitions"] as? [String: Any])?["paid_at"] as? Int == 1_700_000_000)
        let line = ((payload["lines"] as? [String: Any])?["data"] as? [Any])?.first as? [String: Any]
        #expect((line?["price"] as? [String: Any])?["id"] as? String == "price_basic")
        #expect(line?["quantity"] as? Int == 2)
        #expect(payload["status"] as? String == "open")
        // Round trip: what goes out comes back as it was.
        let back = try Self.mapping.inbound(payload)
        #expect(back["amount"] as? Decimal == Decimal(string: "12.3") && back["price_id"] as? String == "price_basic")
    }

    @Test func badValuesNameTheirPath() {
        #expect(throws: DataMapping.MappingError(path: "id", reason: "is required")) {
            try Self.mapping.inbound(json: Array(#"{"amount_paid": 1}"#.utf8))
        }
        #expect(throws: DataMapping.MappingError(path: "amount_paid", reason: "is not an integer amount")) {
            try Self.mapping.inbound(json: Array(#"{"id": "x", "amount_paid": "lots"}"#.utf8))
        }
        #expect(throws: DataMapping.MappingError(path: "status", reason: "has no mapping for \"void\"")) {
            try Self.mapping.inbound(json: Array(#"{"id": "x", "status": "void"}"#.utf8))
        }
        #expect(throws: DataMapping.MappingError(path: "lines.data[0].quantity", reason: "is not an integer")) {
            try Self.mapping.inbound(json: Array(#"{"id": "x", "lines": {"data": [{"quantity": true}]}}"#.utf8))
        }
        #expect(throws: DataMapping.MappingError(path: "$", reason: "is not JSON")) { try Self.mapping.inbound(json: Array("{".utf8)) }
    }
}
