import Cryptography
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Sandbox

/// Outlook mail over Graph v1.0 as Microsoft documents it (`/microsoft/graph/v1.0` ↔
/// `graph.microsoft.com/v1.0`): `GET /me/mailFolders/{inbox|sentitems}/messages` (`$top`, `$skip`,
/// `$select`, `$filter` on `receivedDateTime`, `@odata.nextLink`), `GET /me/messages/{id}`,
/// `GET /me/mailFolders/{id}/messages/delta` (pages of `Prefer: odata.maxpagesize` — 10 by
/// default — with opaque `@odata.nextLink` / `@odata.deltaLink`, `@removed` entries, 410
/// `SyncStateNotFound` for a token no longer known), `POST /me/sendMail` (202, no body; the copy in
/// Sent Items), `POST /me/messages/{id}/reply` (202). Errors in Graph's shape.
struct GraphMail: Sendable {
    let identity: IdentityStore
    let mail: GraphMailStore
    let owner: String
    let subscriptions: GraphSubscriptions

    func addRoutes(to group: RouterGroup<SandboxContext>) {
        group.get("graph/v1.0/me/mailFolders/:folder/messages") { r, c in try authorized(r) { try list(r, folder: c.parameters.require("folder")) } }
        group.get("graph/v1.0/me/mailFolders/:folder/messages/delta") { r, c in try authorized(r) { try delta(r, folder: c.parameters.require("folder")) } }
        group.get("graph/v1.0/me/messages/:id") { r, c in
            try authorized(r) {
                guard let message = mail.message(id: try c.parameters.require("id")) else { throw Self.notFound() }
                return .json(Self.select(render(message), r))
            }
        }
        // What is sent lands in Sent Items, and its subscribers are told.
        group.post("graph/v1.0/me/sendMail") { r, _ in
            var r = r
            let body = await r.jsonBody(upTo: 4 << 20)
            var added: String?
            let response = try authorized(r) { let (response, id) = try send(body); added = id; return response }
            if let added { await subscriptions.mailAdded(id: added, folder: "sentitems") }
            return response
        }
        group.post("graph/v1.0/me/messages/:id/reply") { r, c in
            var r = r
            let body = await r.jsonBody(upTo: 4 << 20)
            var added: String?
            let response = try authorized(r) { let (response, id) = try reply(to: c.parameters.require("id"), body); added = id; return response }
            if let added { await subscriptions.mailAdded(id: added, folder: "sentitems") }
            return response
        }
    }

    struct Failure: Error { var response: Response }

    /// Graph's error: `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`.
    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) -> Response {
        .json(["error": ["code": .string(code), "message": .string(message),
                         "innerError": ["date": .string(ISO8601DateFormatter().string(from: Date())), "request-id": .string(UUID().uuidString.lowercased()),
                                        "client-request-id": .string(UUID().uuidString.lowercased())]]],
              status: status, headers: headers)
    }

    static func notFound() -> Failure {
        Failure(response: error(.notFound, "ErrorItemNotFound", "The specified object was not found in the store."))
    }

    private func authorized(_ request: Request, _ body: () throws -> Response) throws -> Response {
        if let refusal = identity.refusal(request) { return refusal }
        do { return try body() } catch let failure as Failure { return failure.response }
    }

    /// A preference of the request's `Prefer` header (`odata.maxpagesize=50`,
    /// `outlook.timezone="Europe/Berlin"`), unquoted.
    static func preference(_ name: String, in request: Request) -> String? {
        request.headers[HTTPField.Name("Prefer")!].flatMap { prefer in
            prefer.split(separator: ",").compactMap { part -> String? in
                let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return kv.count == 2 && kv[0] == name ? kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : nil
            }.first
        }
    }

    /// The base of links Graph hands out, on this server (`…/microsoft/graph/v1.0`).
    static func base(_ request: Request) -> String {
        let host = request.head.authority ?? "127.0.0.1"
        let path = request.uri.path
        return "http://\(host)" + String(path[..<(path.range(of: "/graph/v1.0")?.upperBound ?? path.endIndex)])
    }

    private func folder(_ segment: String) throws -> String {
        // `inbox`, `Inbox`, `sentitems`, a folder id, or OData's `mailFolders('inbox')` form.
        let name = segment.hasPrefix("'") ? String(segment.dropFirst().dropLast()) : segment
        guard let folder = GraphMailStore.folder(name) else { throw Self.notFound() }
        return folder
    }

    /// `receivedDateTime ge|gt <instant>`: the only filter delta and this stand-in's list take.
    private static func received(_ request: Request) throws -> (Date, inclusive: Bool)? {
        guard let filter = request.uri.queryParameters["$filter"].map(String.init)?.removingPercentEncoding else { return nil }
        let parts = filter.split(separator: " ")
        guard parts.count == 3, parts[0] == "receivedDateTime", parts[1] == "ge" || parts[1] == "gt",
              let date = ISO8601DateFormatter().date(from: String(parts[2])) else {
            throw Failure(response: error(.badRequest, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."))
        }
        return (date, parts[1] == "ge")
    }

    private static func passes(_ message: GraphMailStore.Message, _ filter: (Date, inclusive: Bool)?) -> Bool {
        guard let (date, inclusive) = filter else { return true }
        return inclusive ? message.received >= date : message.received > date
    }

    private func list(_ request: Request, folder segment: String) throws -> Response {
        let folder = try folder(segment)
        let q = request.uri.queryParameters
        let top = min(1000, max(1, Int(q["$top"] ?? "10") ?? 10)), skip = max(0, Int(q["$skip"] ?? "0") ?? 0)
        let filter = try Self.received(request)
        let all = mail.messages(in: folder).filter { Self.passes($0, filter) }
        let page = all.dropFirst(skip).prefix(top)
        var json: JSON = ["@odata.context": .string("https://graph.microsoft.com/v1.0/$metadata#users('\(owner)')/mailFolders('\(folder)')/messages"),
                          "value": .array(page.map { Self.select(render($0), request) })]
        if skip + top < all.count {
            var next = URLComponents(string: Self.base(request) + "/me/mailFolders/\(folder)/messages")!
            next.queryItems = (request.uri.queryParameters.filter { $0.key != "$skip" }.map { URLQueryItem(name: String($0.key), value: String($0.value)) })
                + [URLQueryItem(name: "$skip", value: String(skip + top))]
            json["@odata.nextLink"] = .string(next.string!)
        }
        return .json(json)
    }

    private func delta(_ request: Request, folder segment: String) throws -> Response {
        let folder = try folder(segment)
        // A round's scope, fixed by its first request and carried by its links: the filter's time and the $select.
        let position = try GraphDelta.position(request, isKnown: mail.isKnown(deltaToken:), current: mail.sequence) {
            let from = try Self.received(request).map { String($0.0.timeIntervalSince1970) } ?? ""
            return from + ";" + (request.uri.queryParameters["$select"].map(String.init)?.removingPercentEncoding ?? "")
        }
        let scope = position.scope.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        // The round's entries: every current message at first (from the filter's time), then each changed id once.
        let entries: [JSON]
        if position.since == 0 {
            let from = Double(scope[0]).map { Date(timeIntervalSince1970: $0) }
            entries = mail.messages(in: folder).reversed().filter { m in from.map { m.received >= $0 } ?? true }.map(render)
        } else {
            entries = mail.changes(in: folder, after: position.since, upTo: position.round).map { change in
                guard !change.removed, let message = mail.message(id: change.id), message.folder == folder else {
                    return GraphDelta.removed(change.id, type: "#microsoft.graph.message")
                }
                return render(message)
            }
        }
        return .json(GraphDelta.page(entries, at: position, link: Self.base(request) + "/me/mailFolders/\(folder)/messages/delta",
                                     context: "https://graph.microsoft.com/v1.0/$metadata#Collection(message)", request: request,
                                     select: scope.count == 2 && !scope[1].isEmpty ? scope[1] : nil))
    }

    private func send(_ body: JSON?) throws -> (Response, String?) {
        guard let message = body?["message"], message.objectValue != nil else {
            throw Failure(response: Self.error(.badRequest, "ErrorInvalidRequest", "Empty Payload. JSON content expected."))
        }
        let to = Self.recipients(message["toRecipients"]), cc = Self.recipients(message["ccRecipients"])
        guard !to.isEmpty || !cc.isEmpty || !Self.recipients(message["bccRecipients"]).isEmpty else {
            throw Failure(response: Self.error(.badRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients."))
        }
        let headers = (message["internetMessageHeaders"].arrayValue ?? []).compactMap { h -> (name: String, value: String)? in
            guard let name = h["name"].stringValue, let value = h["value"].stringValue else { return nil }
            return (name, value)
        }
        if let bad = headers.first(where: { !$0.name.lowercased().hasPrefix("x-") }) {
            throw Failure(response: Self.error(.badRequest, "InvalidInternetMessageHeader",
                                               "The internet message header name '\(bad.name)' should start with 'x-' or 'X-'."))
        }
        var added: String?
        if body?["saveToSentItems"].boolValue != false {
            added = mail.add { id, conversation in
                GraphMailStore.Message(
                    id: id, folder: "sentitems", from: .init(name: "Ana Demo", address: owner), to: to, cc: cc,
                    subject: message["subject"].stringValue ?? "", contentType: (message["body"]["contentType"].stringValue ?? "text").lowercased(),
                    content: message["body"]["content"].stringValue ?? "", received: Date(), sent: Date(),
                    internetMessageID: message["internetMessageId"].stringValue ?? "<\(UUID().uuidString)@nexa-sandbox.outlook>",
                    conversationID: conversation, headers: headers, hasAttachments: false, isRead: true)
            }.id
        }
        return (Response(status: .accepted), added)
    }

    private func reply(to id: String, _ body: JSON?) throws -> (Response, String?) {
        guard let original = mail.message(id: id) else { throw Self.notFound() }
        let subject = original.subject.lowercased().hasPrefix("re:") ? original.subject : "RE: " + original.subject
        let added = mail.add({ newID, conversation in
            GraphMailStore.Message(
                id: newID, folder: "sentitems", from: .init(name: "Ana Demo", address: owner), to: [original.from], cc: [], subject: subject,
                contentType: "html", content: body?["comment"].stringValue ?? "", received: Date(), sent: Date(),
                internetMessageID: "<\(UUID().uuidString)@nexa-sandbox.outlook>", conversationID: conversation,
                headers: [("In-Reply-To", original.internetMessageID)], hasAttachments: false, isRead: true)
        }, conversation: original.conversationID)
        return (Response(status: .accepted), added.id)
    }

    static func recipients(_ json: JSON) -> [GraphMailStore.Address] {
        (json.arrayValue ?? []).compactMap { r in
            r["emailAddress"]["address"].stringValue.map { GraphMailStore.Address(name: r["emailAddress"]["name"].stringValue, address: $0) }
        }
    }

    /// A message resource with Graph's default properties.
    func render(_ m: GraphMailStore.Message) -> JSON {
        func address(_ a: GraphMailStore.Address) -> JSON { ["emailAddress": ["name": .string(a.name ?? a.address), "address": .string(a.address)]] }
        let stamp = { (date: Date) in JSON.string(ISO8601DateFormatter().string(from: date)) }
        let preview = m.contentType == "html" ? m.content.replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression) : m.content
        var json: JSON = [
            "@odata.etag": .string("W/\"CQAAABYAAAC\(m.id.suffix(8))\""), "id": .string(m.id),
            "createdDateTime": stamp(m.received), "lastModifiedDateTime": stamp(m.received), "changeKey": .string("CQAAABYAAAC\(m.id.suffix(8))"),
            "categories": [], "receivedDateTime": stamp(m.received), "sentDateTime": stamp(m.sent), "hasAttachments": .bool(m.hasAttachments),
            "internetMessageId": .string(m.internetMessageID), "subject": .string(m.subject), "bodyPreview": .string(String(preview.prefix(255))),
            "importance": "normal", "parentFolderId": .string(GraphMailStore.folders[m.folder] ?? m.folder), "conversationId": .string(m.conversationID),
            "isDeliveryReceiptRequested": false, "isReadReceiptRequested": false, "isRead": .bool(m.isRead), "isDraft": false,
            "webLink": .string("https://outlook.office365.com/owa/?ItemID=\(m.id)&exvsurl=1&viewmodel=ReadMessageItem"),
            "inferenceClassification": "focused", "body": ["contentType": .string(m.contentType), "content": .string(m.content)],
            "sender": address(m.from), "from": address(m.from), "toRecipients": .array(m.to.map(address)), "ccRecipients": .array(m.cc.map(address)),
            "bccRecipients": [], "replyTo": [], "flag": ["flagStatus": "notFlagged"],
        ]
        json["internetMessageHeaders"] = .array(m.headers.map { ["name": .string($0.name), "value": .string($0.value)] })
        return json
    }

    /// `$select=a,b`: only those properties (and `id`, and the OData annotations); the message
    /// headers only when selected, as Graph returns them.
    static func select(_ json: JSON, _ request: Request) -> JSON {
        select(json, request.uri.queryParameters["$select"].map(String.init)?.removingPercentEncoding)
    }

    static func select(_ json: JSON, _ select: String?) -> JSON {
        guard var object = json.objectValue, object["@removed"] == nil else { return json }
        guard let select else {
            object["internetMessageHeaders"] = nil
            return .object(object)
        }
        let wanted = Set(select.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } + ["id"])
        return .object(object.filter { wanted.contains($0.key) || $0.key.hasPrefix("@odata") })
    }
}

extension IdentityStore {
    /// Graph's 401 for a request without a live access token; nil when it has one.
    func refusal(_ request: Request) -> Response? {
        if let auth = request.headers[.authorization], auth.hasPrefix("Bearer "), withLock({ $0.accessTokens.contains(String(auth.dropFirst(7))) }) {
            return nil
        }
        return GraphMail.error(.unauthorized, "InvalidAuthenticationToken", "Access token is empty.",
                               headers: [.wwwAuthenticate: "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\""])
    }
}
