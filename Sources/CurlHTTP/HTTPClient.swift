internal import CCurl
import Foundation
import NIOPosix
import Synchronization

/// Outbound HTTP over libcurl, for every provider call and webhook the system makes.
///
/// Each transfer runs `curl_easy_perform` on the client's own thread pool, never on an event loop
/// or the cooperative pool; easy handles are pooled and reset between uses, which keeps libcurl's
/// connection cache, so connections to a host are reused. TLS peers are verified; proxies come
/// from the usual environment variables (`https_proxy`, `no_proxy`); redirects are not followed.
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Transfers that can run at once (threads).
        public var concurrentTransfers: Int = 8
        /// A larger response fails with `responseTooLarge`.
        public var maximumResponseSize: Int = 16 * 1024 * 1024
        public var connectTimeout: Duration = .seconds(10)
        public init() {}
    }

    public let configuration: Configuration
    private let threadPool: NIOThreadPool
    private let handles = Mutex<[EasyHandle]>([])

    public init(configuration: Configuration = .init()) {
        _ = Self.globalInit
        self.configuration = configuration
        threadPool = NIOThreadPool(numberOfThreads: max(1, configuration.concurrentTransfers))
        threadPool.start()
    }

    deinit {
        threadPool.shutdownGracefully { _ in }
    }

    /// libcurl's global set-up, once per process, before any thread uses it.
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Performs one transfer. A non-2xx status is a response, not an error.
    /// - Throws: `HTTPClientError` when no response was received (or it exceeded the size cap).
    public func execute(_ request: HTTPClientRequest, timeout: Duration = .seconds(30)) async throws -> HTTPClientResponse {
        let cancelled = CancellationFlag()
        let limit = configuration.maximumResponseSize
        let connectTimeout = configuration.connectTimeout
        return try await withTaskCancellationHandler {
            try await withHandle { handle in
                try handle.perform(request, timeout: timeout, connectTimeout: connectTimeout, limit: limit, cancelled: cancelled)
            }
        } onCancel: {
            cancelled.flag.store(true, ordering: .relaxed)
        }
    }

    /// Runs `body` with a pooled easy handle on the client's thread pool.
    func withHandle<R: Sendable>(_ body: @escaping @Sendable (EasyHandle) throws -> R) async throws -> R {
        let handle = handles.withLock { $0.popLast() } ?? EasyHandle()
        defer { handles.withLock { $0.append(handle) } }
        do {
            return try await threadPool.runIfActive { try body(handle) }
        } catch is CancellationError {
            // Cancelled before a thread took the transfer up: the same typed error as one aborted midway.
            throw HTTPClientError(.cancelled, "the transfer was cancelled")
        }
    }
}

/// Set when the caller's task is cancelled; libcurl's progress callback then aborts the transfer.
final class CancellationFlag: Sendable {
    let flag = Atomic<Bool>(false)
}
