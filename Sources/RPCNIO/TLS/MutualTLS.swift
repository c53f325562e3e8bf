import Cryptography
public import Foundation
public import NIOCore
public import NIOSSL

/// Mutual TLS on RPC connections, from PEM files as cert-manager or a mesh provides them: this
/// process's certificate chain and key (presented as server and as client) and the CA bundle its
/// peers' certificates must chain to. A server with it refuses a peer without such a certificate;
/// the peer certificate's common name is the caller's service identity (`ServerEnvironment.peerIdentity`).
public struct MutualTLS: Sendable {
    /// What a server's pipeline and a client's use; made once.
    let serverContext: NIOSSLContext
    let clientContext: NIOSSLContext

    /// A setting that is not a usable certificate, key or bundle.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters: PEM texts (a chain may hold intermediates after the leaf).
    public init(certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], trustedCAsPEM: [UInt8]) throws(Failure) {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(certificateChainPEM).map { NIOSSLCertificateSource.certificate($0) }
            let key = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(bytes: privateKeyPEM, format: .pem))
            let roots = try NIOSSLCertificate.fromPEMBytes(trustedCAsPEM)
            guard !chain.isEmpty else { throw Failure(description: "the certificate file holds no certificate") }
            guard !roots.isEmpty else { throw Failure(description: "the CA file holds no certificate") }
            var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
            server.trustRoots = .certificates(roots)
            server.certificateVerification = .noHostnameVerification  // a client must present a certificate from the CA
            server.minimumTLSVersion = .tlsv12
            var client = TLSConfiguration.makeClientConfiguration()
            client.certificateChain = chain
            client.privateKey = key
            client.trustRoots = .certificates(roots)
            client.certificateVerification = .fullVerification  // the server's name (or IP address) must be in its certificate
            client.minimumTLSVersion = .tlsv12
            serverContext = try NIOSSLContext(configuration: server)
            clientContext = try NIOSSLContext(configuration: client)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(error)")
        }
    }

    /// Reads the three PEM files.
    public init(certificateFile: String, privateKeyFile: String, trustedCAsFile: String) throws(Failure) {
        func read(_ path: String) throws(Failure) -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "cannot read \(path)") }
            return Array(data)
        }
        try self.init(certificateChainPEM: try read(certificateFile), privateKeyPEM: try read(privateKeyFile), trustedCAsPEM: try read(trustedCAsFile))
    }

    /// The handler a server puts first in an accepted connection's pipeline.
    func serverHandler() -> NIOSSLServerHandler { NIOSSLServerHandler(context: serverContext) }

    /// The handler a client puts first in a connection to `host` (a name is checked against the
    /// server's certificate; an IP address against its IP addresses).
    func clientHandler(host: String) throws -> NIOSSLClientHandler {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: clientContext, serverHostname: isAddress ? nil : host)
    }

    /// The service identity of the peer on `channel`: its certificate's common name, once the
    /// handshake is done; nil without TLS.
    static func peerIdentity(on channel: any Channel) -> String? {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
              let der = try? handler.peerCertificate?.toDERBytes() else { return nil }
        return CertificateNames.commonName(der: der)
    }
}
