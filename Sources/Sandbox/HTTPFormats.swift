public import Foundation
public import Hummingbird

extension Response {
    /// A `302 Found` to `uri` with `pairs` added to its query, each part percent-encoded (RFC 3986
    /// unreserved characters kept), as authorization servers send a browser back.
    public static func redirect(to uri: String, adding pairs: [(String, String)]) -> Response {
        func encoded(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
        }
        let query = pairs.map { "\(encoded($0.0))=\(encoded($0.1))" }.joined(separator: "&")
        return Response(status: .found, headers: [.location: uri + (uri.contains("?") ? "&" : "?") + query])
    }
}

/// An HTTP-date (RFC 9110 IMF-fixdate): `Sun, 29 Nov 2026 14:11:00 GMT`.
public func httpDate(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
    return formatter.string(from: date)
}
