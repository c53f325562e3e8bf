import Cryptography
import Foundation
import Sandbox

/// Just enough RFC 2822/MIME to render a Gmail `MessagePart` tree: headers (unfolded), a body or,
/// for `multipart/*`, parts split on the boundary.
enum MIME {
    static func headers(of text: Substring) -> (headers: [(String, String)], body: Substring) {
        let separator = text.range(of: "\r\n\r\n") ?? text.range(of: "\n\n")
        let head = separator.map { text[..<$0.lowerBound] } ?? text
        let body = separator.map { text[$0.upperBound...] } ?? ""
        var headers: [(String, String)] = []
        // "\r\n" is one Character in Swift: split on isNewline, never on "\n".
        for line in head.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
                headers[headers.count - 1].1 += " " + line.drop(while: { $0 == " " || $0 == "\t" })
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop(while: { $0 == " " }))))
            }
        }
        return (headers, body)
    }

    /// The part as Gmail renders it (`partId`, `mimeType`, `filename`, `headers`, `body`, `parts`).
    static func part(_ text: Substring, partID: String, includeBodies: Bool = true) -> JSON {
        let (headers, body) = headers(of: text)
        let contentType = headers.first { $0.0.lowercased() == "content-type" }?.1 ?? "text/plain"
        let mimeType = String(contentType.prefix { $0 != ";" }).trimmingCharacters(in: .whitespaces).lowercased()
        // An attachment's name, from Content-Disposition (else Content-Type's `name`), as Gmail reports it.
        let disposition = headers.first { $0.0.lowercased() == "content-disposition" }?.1 ?? ""
        let filename = parameter("filename", in: disposition) ?? parameter("name", in: contentType) ?? ""
        var json: JSON = [
            "partId": .string(partID), "mimeType": .string(mimeType), "filename": .string(filename),
            "headers": .array(headers.map { ["name": .string($0.0), "value": .string($0.1)] }),
        ]
        if mimeType.hasPrefix("multipart/"), let boundary = parameter("boundary", in: contentType) {
            let pieces = String(body).components(separatedBy: "--" + boundary)
            // pieces[0] is the preamble; the last piece begins with "--" (the close delimiter).
            let parts = pieces.dropFirst().filter { !$0.hasPrefix("--") }.enumerated().map { i, piece in
                self.part(Substring(piece.drop(while: { $0 == "\r" || $0 == "\n" })),
                          partID: partID.isEmpty ? "\(i)" : "\(partID).\(i)", includeBodies: includeBodies)
            }
            json["body"] = ["size": 0]
            json["parts"] = .array(parts)
        } else {
            // Gmail hands out a part's content with its transfer encoding removed.
            let encoding = headers.first { $0.0.lowercased() == "content-transfer-encoding" }?.1.lowercased().trimmingCharacters(in: .whitespaces)
            let bytes = decode(Array(body.utf8), transferEncoding: encoding ?? "7bit")
            if !filename.isEmpty {
                // Attachments come as a reference (users.messages.attachments.get), not inline.
                json["body"] = ["size": .int(Int64(bytes.count)), "attachmentId": .string("ANGjdJ" + Digest.base64URL(Digest.sha256(bytes).prefix(24)))]
            } else {
                json["body"] = includeBodies ? ["size": .int(Int64(bytes.count)), "data": .string(Digest.base64URL(bytes))] : ["size": .int(Int64(bytes.count))]
            }
        }
        return json
    }

    /// A body without its Content-Transfer-Encoding: base64 and quoted-printable (RFC 2045) are
    /// decoded; 7bit, 8bit and binary are the bytes themselves.
    static func decode(_ bytes: [UInt8], transferEncoding: String) -> [UInt8] {
        switch transferEncoding {
        case "base64":
            return Digest.base64URLDecode(String(decoding: bytes.filter { !($0 == 0x0D || $0 == 0x0A || $0 == 0x20) }, as: UTF8.self)) ?? bytes
        case "quoted-printable":
            var out: [UInt8] = []
            var i = 0
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "="), i + 1 < bytes.count {
                    if bytes[i + 1] == 0x0D || bytes[i + 1] == 0x0A {  // a soft line break
                        i += bytes[i + 1] == 0x0D && i + 2 < bytes.count && bytes[i + 2] == 0x0A ? 3 : 2
                        continue
                    }
                    if i + 2 < bytes.count, let value = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                        out.append(value)
                        i += 3
                        continue
                    }
                }
                out.append(bytes[i])
                i += 1
            }
            return out
        default:
            return bytes
        }
    }

    static func parameter(_ name: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let kv = piece.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0].lowercased() == name { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }
}
