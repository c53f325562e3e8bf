import Foundation
public import Hummingbird
import Messages
import NIOCore
public import Platform
public import RPC

/// `GET /oauth/<provider>/start` and `GET /oauth/<provider>/callback`. Start is authorized by a
/// signed connect link, or by an API key (`Authorization: Bearer nexa_…`) with `workspace` implied
/// by the key and `user` in the query. Every outcome ends on a small HTML page or a redirect.
public struct OAuthRoutes: Sendable {
    let flow: OAuthFlow
    let links: ConnectLinks
    let authenticator: APIKeyAuthenticator

    public init(flow: OAuthFlow, links: ConnectLinks, authenticator: APIKeyAuthenticator) {
        self.flow = flow
        self.links = links
        self.authenticator = authenticator
    }

    public func register(on router: Router<GatewayRequestContext>) {
        router.get("/oauth/:provider/start") { request, context in
            let provider = context.parameters.get("provider") ?? ""
            let query = request.uri.queryDictionary
            let workspace: UUID, user: UUID
            if let linked = links.verify(provider: provider, query: query) {
                do throws(OAuthFlow.Failure) {
                    guard try await flow.consume(linked) else {
                        return Self.page(403, "This link was already used", "A connect link works once. Ask for a new one (nexactl connect).")
                    }
                } catch {
                    return Self.page(error.status, error.title, error.detail)
                }
                (workspace, user) = (linked.workspace, linked.user)
            } else if request.headers[.authorization]?.hasPrefix("Bearer ") == true, let userID = query["user"].flatMap(UUID.init(uuidString:)) {
                let caller: (key: String, principal: Principal)
                do {
                    caller = try await authenticator.authenticateBearer(
                        request, context: context, service: GatewayV1.GatewayService.descriptor, method: "CreateConnectLink")
                } catch let error as RPCError where error.code == .resourceExhausted {
                    return Self.page(429, "Too many requests", "Too many unknown API keys came from this address. Try again later.")
                } catch {
                    return Self.page(401, "Not allowed", "The API key is not valid for the gateway.")
                }
                guard let id = UUID(uuidString: caller.principal.workspaceID) else {
                    return Self.page(401, "Not allowed", "The API key is not valid for the gateway.")
                }
                (workspace, user) = (id, userID)
            } else {
                return Self.page(403, "This link is not valid", "It was altered or has expired. Ask for a new one (nexactl connect).")
            }
            do throws(OAuthFlow.Failure) {
                let started = try await flow.start(provider: provider, workspaceID: workspace, userID: user, loginHint: query["login_hint"])
                var response = Response(status: .found, headers: [.location: started.authorizationURL, .cacheControl: "no-store"])
                // The browser that starts the flow is the one that may finish it (Lax: the
                // provider's redirect back is a top-level navigation from another site).
                response.setCookie(Cookie(
                    name: OAuthFlow.browserCookie(for: provider), value: started.browserBinding, maxAge: Int(flow.stateLifetime),
                    path: "/oauth/\(provider)/callback", secure: flow.publicURL.hasPrefix("https://"), httpOnly: true, sameSite: .lax))
                return response
            } catch {
                return Self.page(error.status, error.title, error.detail)
            }
        }
        router.get("/oauth/:provider/callback") { request, context in
            do throws(OAuthFlow.Failure) {
                let provider = context.parameters.get("provider") ?? ""
                let connection = try await flow.complete(provider: provider, query: request.uri.queryDictionary,
                                                         browserBinding: request.cookies[OAuthFlow.browserCookie(for: provider)]?.value)
                return Self.page(200, "Connected", "\(connection.provider.capitalized) account \(connection.accountEmail) is connected. You can close this window.")
            } catch {
                return Self.page(error.status, error.title, error.detail)
            }
        }
    }

    static func page(_ status: Int, _ title: String, _ detail: String) -> Response {
        let html = """
            <!doctype html><html><head><meta charset="utf-8"><title>\(escape(title)) — Nexa</title></head>
            <body><h1>\(escape(title))</h1><p>\(escape(detail))</p></body></html>
            """
        return Response(status: .init(code: status), headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
