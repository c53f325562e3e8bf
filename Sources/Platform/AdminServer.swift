public import Hummingbird
public import Logging
import NIOCore
public import Postgres
public import Prometheus
public import RPC

/// The small HTTP admin port every service serves: liveness, readiness (database reachable and
/// service serving) and Prometheus metrics.
public enum AdminServer {
    public static func make(
        host: String, port: Int, db: PostgresClient, health: HealthStatus, registry: PrometheusCollectorRegistry,
        logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let databaseOK = (try? await db.query("SELECT 1")) != nil
            let ready = databaseOK && health.isServing
            let text = "database: \(databaseOK ? "ok" : "unreachable")\nserving: \(health.isServing)\n"
            return Response(
                status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: text))
            )
        }
        router.get("/metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil), logger: logger
        )
    }
}
