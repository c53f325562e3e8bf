import CoreMetrics
import RPC
import Synchronization

/// Per-method counters and latency histograms of one service, created once per (method, code).
final class ServerMetrics: Sendable {
    private let service: ServiceDescriptor
    private let counters: Mutex<[Key: CoreMetrics.Counter]> = Mutex([:])
    private let timers: [CoreMetrics.Timer]

    private struct Key: Hashable {
        var method: UInt32
        var code: Int
    }

    init(service: ServiceDescriptor) {
        self.service = service
        timers = service.methods.map { method in
            CoreMetrics.Timer(
                label: "nexa_rpc_server_duration_seconds",
                dimensions: [("service", service.shortName), ("method", method.name)],
                preferredDisplayUnit: .seconds
            )
        }
    }

    func record(method: UInt32, code: StatusCode, duration: Duration) {
        let known = Int(method) < service.methods.count
        let key = Key(method: known ? method : UInt32.max, code: code.rawValue)
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(
                label: "nexa_rpc_server_requests_total",
                dimensions: [
                    ("service", service.shortName),
                    ("method", known ? service.methods[Int(method)].name : "unknown"),
                    ("code", code.description),
                ]
            )
            counters[key] = counter
            return counter
        }
        counter.increment()
        if known {
            let (seconds, attoseconds) = duration.components
            timers[Int(method)].recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }
}
