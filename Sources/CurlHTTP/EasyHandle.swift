internal import CCurl
import Foundation
import Synchronization

/// One libcurl easy handle. Used by one transfer at a time (the client's pool hands it out once),
/// on one thread pool thread for the length of `perform`.
final class EasyHandle: @unchecked Sendable {
    // @unchecked: the CURL* is touched only inside `perform`, by the one borrower of this handle.
    let curl: UnsafeMutableRawPointer

    init() {
        curl = curl_easy_init()!
    }

    deinit { curl_easy_cleanup(curl) }

    func perform(
        _ request: HTTPClientRequest, timeout: Duration, connectTimeout: Duration, limit: Int, cancelled: CancellationFlag
    ) throws(HTTPClientError) -> HTTPClientResponse {
        // Keeps live connections, DNS and TLS session caches; clears every option.
        curl_easy_reset(curl)
        guard request.url.hasPrefix("http://") || request.url.hasPrefix("https://") else {
            throw HTTPClientError(.invalidURL, "only http and https URLs are supported")
        }
        let sink = ResponseSink(limit: limit, cancelled: cancelled)
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for header in request.headers { list = curl_slist_append(list, "\(header.name): \(header.value)") }
        // libcurl adds `Expect: 100-continue` to larger bodies; providers do not need the round trip.
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }

        nexa_curl_setopt_string(curl, CURLOPT_URL, request.url)
        nexa_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
        nexa_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, Int(timeout.milliseconds))
        nexa_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(connectTimeout.milliseconds))
        nexa_curl_setopt_long(curl, CURLOPT_FOLLOWLOCATION, 0)
        nexa_curl_setopt_long(curl, CURLOPT_SSL_VERIFYPEER, 1)
        nexa_curl_setopt_long(curl, CURLOPT_SSL_VERIFYHOST, 2)
        nexa_curl_setopt_string(curl, CURLOPT_ACCEPT_ENCODING, "")
        nexa_curl_setopt_list(curl, CURLOPT_HTTPHEADER, list)
        nexa_curl_setopt_data_callback(curl, CURLOPT_WRITEFUNCTION, { data, size, count, context in
            Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue().append(body: data, size * count)
        })
        nexa_curl_setopt_pointer(curl, CURLOPT_WRITEDATA, sinkPointer)
        nexa_curl_setopt_data_callback(curl, CURLOPT_HEADERFUNCTION, { data, size, count, context in
            Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue().append(header: data, size * count)
        })
        nexa_curl_setopt_pointer(curl, CURLOPT_HEADERDATA, sinkPointer)
        nexa_curl_setopt_long(curl, CURLOPT_NOPROGRESS, 0)
        nexa_curl_setopt_progress_callback(curl, { context, _, _, _, _ in
            Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue().cancelled.flag.load(ordering: .relaxed) ? 1 : 0
        })
        nexa_curl_setopt_pointer(curl, CURLOPT_XFERINFODATA, sinkPointer)

        let method = request.method.uppercased()
        switch method {
        case "GET": nexa_curl_setopt_long(curl, CURLOPT_HTTPGET, 1)
        case "HEAD": nexa_curl_setopt_long(curl, CURLOPT_NOBODY, 1)
        case "POST": nexa_curl_setopt_long(curl, CURLOPT_POST, 1)
        default: nexa_curl_setopt_string(curl, CURLOPT_CUSTOMREQUEST, method)
        }
        if let path = request.bodyFile {
            // libcurl's default read callback freads the FILE* given as READDATA.
            guard let file = fopen(path, "rb") else { throw HTTPClientError(.transport, "cannot read the body file \(path)") }
            defer { fclose(file) }
            fseeko(file, 0, SEEK_END)
            let size = curl_off_t(ftello(file))
            rewind(file)
            if method == "POST" {
                nexa_curl_setopt_offset(curl, CURLOPT_POSTFIELDSIZE_LARGE, size)
            } else {
                nexa_curl_setopt_long(curl, CURLOPT_UPLOAD, 1)
                nexa_curl_setopt_offset(curl, CURLOPT_INFILESIZE_LARGE, size)
            }
            nexa_curl_setopt_pointer(curl, CURLOPT_READDATA, file)
            let code = curl_easy_perform(curl)
            guard code == CURLE_OK else { throw Self.error(code, sink: sink) }
            var status = 0
            nexa_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
            return HTTPClientResponse(status: status, headers: sink.headers, body: sink.body)
        }
        let body = request.body ?? (method == "POST" ? [] : nil)
        let code: CURLcode = body.map { body in
            body.withUnsafeBytes { bytes in
                nexa_curl_setopt_offset(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
                nexa_curl_setopt_pointer(curl, CURLOPT_POSTFIELDS, bytes.baseAddress ?? UnsafeRawPointer(sinkPointer))
                return curl_easy_perform(curl)
            }
        } ?? curl_easy_perform(curl)

        guard code == CURLE_OK else { throw Self.error(code, sink: sink) }
        var status = 0
        nexa_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
        return HTTPClientResponse(status: status, headers: sink.headers, body: sink.body)
    }

    private static func error(_ code: CURLcode, sink: ResponseSink) -> HTTPClientError {
        let text = String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_WRITE_ERROR where sink.exceeded:
            return HTTPClientError(.responseTooLarge, "the response is larger than \(sink.limit) bytes")
        case CURLE_ABORTED_BY_CALLBACK: return HTTPClientError(.cancelled, "the transfer was cancelled")
        case CURLE_OPERATION_TIMEDOUT: return HTTPClientError(.timedOut, text)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return HTTPClientError(.couldNotConnect, text)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE:
            return HTTPClientError(.tls, text)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: return HTTPClientError(.invalidURL, text)
        default: return HTTPClientError(.transport, text)
        }
    }
}

/// Collects one response; enforces the size cap.
final class ResponseSink {
    let limit: Int
    let cancelled: CancellationFlag
    var body: [UInt8] = []
    var headers: [HTTPClientRequest.Header] = []
    var exceeded = false

    init(limit: Int, cancelled: CancellationFlag) {
        self.limit = limit
        self.cancelled = cancelled
    }

    func append(body data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        guard body.count + count <= limit else {
            exceeded = true
            return 0  // makes libcurl stop with CURLE_WRITE_ERROR
        }
        if let data, count > 0 { data.withMemoryRebound(to: UInt8.self, capacity: count) { body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) } }
        return count
    }

    func append(header data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        guard let data else { return count }
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            headers.removeAll()  // a new response (after 100 Continue or a proxy's CONNECT)
        } else if let colon = line.firstIndex(of: ":") {
            headers.append(.init(String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return count
    }
}

extension Duration {
    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
