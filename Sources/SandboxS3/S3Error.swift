import Foundation
import HTTPTypes
public import Hummingbird

/// An S3 error as S3 sends it: a status and an XML `<Error>` document with `Code` and `Message`.
struct S3Error: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func noSuchKey(_ key: String) -> S3Error { S3Error(.notFound, "NoSuchKey", "The specified key does not exist.") }
    static func noSuchBucket(_ bucket: String) -> S3Error { S3Error(.notFound, "NoSuchBucket", "The specified bucket does not exist.") }
    static let noSuchUpload = S3Error(.notFound, "NoSuchUpload",
                                      "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")

    func response(requestID: String, head: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: "application/xml"]
        headers[HTTPField.Name("x-amz-request-id")!] = requestID
        guard !head else { return Response(status: status, headers: headers) }
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>\(S3StandIn.xmlEscaped(code))</Code><Message>\(S3StandIn.xmlEscaped(message))</Message>\
            <RequestId>\(requestID)</RequestId></Error>
            """
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: xml)))
    }
}
