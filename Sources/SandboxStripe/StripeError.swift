import Foundation
import Sandbox

/// An error as Stripe sends it: HTTP status and `{"error": {type, code, message, param, doc_url}}`.
struct StripeError: Error, Sendable {
    var status: Int
    var type: String
    var code: String?
    var message: String
    var param: String?
    /// Whether an idempotency key remembers this answer (no for parameter validation).
    var isStoredForIdempotency: Bool

    var json: JSON {
        var error: [String: JSON] = ["type": .string(type), "message": .string(message)]
        if let code {
            error["code"] = .string(code)
            error["doc_url"] = .string("https://stripe.com/docs/error-codes/\(code.replacingOccurrences(of: "_", with: "-"))")
        }
        if let param { error["param"] = .string(param) }
        return .object(["error": .object(error)])
    }

    static func missing(_ kind: String, _ id: String, param: String = "id") -> StripeError {
        StripeError(status: 404, type: "invalid_request_error", code: "resource_missing",
                    message: "No such \(kind): '\(id)'", param: param, isStoredForIdempotency: true)
    }

    static func parameterMissing(_ param: String) -> StripeError {
        StripeError(status: 400, type: "invalid_request_error", code: "parameter_missing",
                    message: "Missing required param: \(param).", param: param, isStoredForIdempotency: false)
    }

    static func parameterUnknown(_ param: String) -> StripeError {
        StripeError(status: 400, type: "invalid_request_error", code: "parameter_unknown",
                    message: "Received unknown parameter: \(param)", param: param, isStoredForIdempotency: false)
    }

    static func invalid(_ param: String, _ message: String, code: String = "parameter_invalid_integer") -> StripeError {
        StripeError(status: 400, type: "invalid_request_error", code: code, message: message, param: param, isStoredForIdempotency: false)
    }
}
