@testable import BlobStorage
import CurlHTTP
import Foundation
import TestSupport
import Testing

/// AWS's own worked examples for S3 (Amazon S3 API reference, "Signature Calculations for the
/// Authorization Header" and "Authenticating Requests: Using Query Parameters").
@Suite(.hangGuard) struct SigV4Tests {
    let signer = SigV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    @Test func signsTheGetObjectExample() throws {
        var request = HTTPClientRequest(url: "https://examplebucket.s3.amazonaws.com/test.txt", headers: [.init("Range", "bytes=0-9")])
        try signer.sign(&request, at: date)
        let authorization = request.headers.first { $0.name == "Authorization" }?.value
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(request.headers.contains(.init("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")))
    }

    @Test func signsThePutObjectExample() throws {
        var request = HTTPClientRequest(method: "PUT", url: "https://examplebucket.s3.amazonaws.com/test%24file.text",
                                        headers: [.init("Date", "Fri, 24 May 2013 00:00:00 GMT"), .init("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                        body: Array("Welcome to Amazon S3.".utf8))
        try signer.sign(&request, at: date)
        let authorization = request.headers.first { $0.name == "Authorization" }?.value ?? ""
        #expect(authorization.hasSuffix("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
            + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    }

    @Test func presignsTheQueryStringExample() throws {
        let url = try signer.presignedURL(url: "https://examplebucket.s3.amazonaws.com/test.txt", at: date, expires: .seconds(86_400))
        #expect(url == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
            + "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        #expect(throws: SigV4Error.self) { try signer.presignedURL(url: "https://b.s3.amazonaws.com/x", at: date, expires: .seconds(604_801)) }
    }

    @Test func aPortOtherThanTheSchemesIsPartOfTheHost() throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:7300/s3/nexa/a.csv")
        try signer.sign(&request, at: date)
        var plain = HTTPClientRequest(url: "http://127.0.0.1:80/s3/nexa/a.csv")
        try signer.sign(&plain, at: date)
        #expect(try SigV4.URLParts("http://127.0.0.1:7300/s3/nexa/a.csv").host == "127.0.0.1:7300")
        #expect(try SigV4.URLParts("http://127.0.0.1:80/s3/nexa/a.csv").host == "127.0.0.1")
        #expect(try SigV4.URLParts("https://h.example:443/").host == "h.example")
    }
}
