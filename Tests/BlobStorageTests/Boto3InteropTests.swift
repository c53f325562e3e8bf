import BlobStorage
import CurlHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Sandbox
import SandboxS3
import TestSupport
import Testing

/// An independent S3 client — AWS's own boto3 — against the sandbox's S3 stand-in, and objects
/// crossing between boto3 and `S3BlobStore` both ways. Skipped, saying so, when boto3 is not
/// installed (`make deps` installs python3-boto3).
@Suite(.hangGuard) struct Boto3InteropTests {
    static let script = #"""
        import io, sys, urllib.request
        import boto3, botocore
        from botocore.config import Config
        from boto3.s3.transfer import TransferConfig
        base, key_id, secret = sys.argv[1:4]
        # A stalled connection fails fast and by name, instead of boto3's 60 s timeouts and retries.
        options = dict(s3={"addressing_style": "path"}, signature_version="s3v4", connect_timeout=5, read_timeout=60,
                       retries={"max_attempts": 1})
        try:  # newer botocore adds CRC checksums to uploads by default; S3 asks for them only when required
            config = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required", **options)
        except TypeError:
            config = Config(**options)
        def client(secret):
            return boto3.client("s3", endpoint_url=base + "/s3", aws_access_key_id=key_id, aws_secret_access_key=secret,
                                region_name="us-east-1", config=config)
        s3 = client(secret)
        # What the Swift store wrote, read by boto3.
        assert s3.get_object(Bucket="nexa", Key="interop/from-swift.csv")["Body"].read() == b"email\r\nswift@x.test\r\n"
        s3.create_bucket(Bucket="boto")
        s3.put_object(Bucket="boto", Key="a/b.csv", Body=b"email\nx@y.z\n")
        assert s3.get_object(Bucket="boto", Key="a/b.csv")["Body"].read() == b"email\nx@y.z\n"
        ranged = s3.get_object(Bucket="boto", Key="a/b.csv", Range="bytes=0-4")
        assert ranged["Body"].read() == b"email" and ranged["ContentRange"] == "bytes 0-4/12", ranged
        assert s3.head_object(Bucket="boto", Key="a/b.csv")["ContentLength"] == 12
        data = bytes(range(256)) * (11 * 4096)  # 11 MiB: a multipart upload of three parts
        five = 5 * 1024 * 1024
        s3.upload_fileobj(io.BytesIO(data), "nexa", "interop/from-boto3.bin",
                          Config=TransferConfig(multipart_threshold=five, multipart_chunksize=five, use_threads=False))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "a/b.csv"}, ExpiresIn=3600)
        assert urllib.request.urlopen(url, timeout=60).read() == b"email\nx@y.z\n"
        try:
            s3.get_object(Bucket="boto", Key="missing")
            sys.exit("a missing key was served")
        except s3.exceptions.NoSuchKey:
            pass
        try:
            client("wrong-secret").put_object(Bucket="boto", Key="x", Body=b"x")
            sys.exit("a wrong secret was accepted")
        except botocore.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "SignatureDoesNotMatch", error.response
        s3.delete_object(Bucket="boto", Key="a/b.csv")
        print("boto3 " + boto3.__version__ + ": ok")
        """#

    @Test func boto3AndTheS3StoreShareObjectsThroughTheStandIn() async throws {
        guard try await Processes.run("/usr/bin/env", ["python3", "-c", "import boto3"]).status == 0 else {
            print("SKIPPED Boto3InteropTests: python3 cannot import boto3 (apt-get install python3-boto3)")
            return
        }
        let standIn = S3StandIn.Configuration()
        let app = SandboxApp.build(standIns: [S3StandIn(configuration: standIn)], port: 0, journal: Journal(), faults: Faults(), logger: Logger(label: "test"))
        try await app.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            var configuration = S3BlobStore.Configuration(endpoint: base + "/s3", bucket: "nexa", region: standIn.region,
                                                          accessKeyID: standIn.accessKeyID, secretAccessKey: standIn.secretAccessKey)
            configuration.partSize = 5 * 1024 * 1024
            let store = S3BlobStore(configuration: configuration)
            // The store names its keys; boto3 is told where to look through a copy under a fixed name.
            let (key, _) = try await store.create(prefix: "interop", fileExtension: "csv") { try $0.write(contentsOf: Data("email\r\nswift@x.test\r\n".utf8)) }
            try await SignedPut.put(key: "interop/from-swift.csv", body: try await store.withLocalFile(key) { Array(try Data(contentsOf: $0)) },
                                    base: base, standIn: standIn)

            let script = FileManager.default.temporaryDirectory.appendingPathComponent("nexa-boto3-\(UUID().uuidString).py")
            try Self.script.write(to: script, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: script) }
            let (status, printed) = try await Processes.run("/usr/bin/env",
                                                            ["python3", script.path, base, standIn.accessKeyID, standIn.secretAccessKey])
            #expect(status == 0, "\(printed)")
            #expect(printed.contains(": ok"))

            // What boto3 uploaded in parts, read by the Swift store in ranges.
            let expected = [UInt8]((0..<(11 * 4096)).flatMap { _ in Array(0...255) as [UInt8] })
            #expect(try await store.withLocalFile("interop/from-boto3.bin") { Array(try Data(contentsOf: $0)) } == expected)
        }
    }
}

/// A signed PUT under a chosen key (the store itself always names new blobs).
enum SignedPut {
    static func put(key: String, body: [UInt8], base: String, standIn: S3StandIn.Configuration) async throws {
        let signer = SigV4(accessKeyID: standIn.accessKeyID, secretAccessKey: standIn.secretAccessKey, region: standIn.region)
        var request = HTTPClientRequest(method: "PUT", url: "\(base)/s3/nexa/\(key)", body: body)
        try signer.sign(&request, at: Date())
        let response = try await HTTPClient().execute(request)
        #expect(response.status == 200)
    }
}
