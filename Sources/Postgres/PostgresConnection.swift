internal import CPQ
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection. Every call blocks, so callers run it on a thread pool; the pool hands
/// it to one borrower at a time.
public final class PostgresConnection: @unchecked Sendable {
    // @unchecked: the PGconn is only touched by the single borrower that holds this connection
    // (the pool never lends it twice), one blocking call at a time.
    private var conn: OpaquePointer?
    private let conninfo: String

    init(conninfo: String) throws(PostgresError) {
        self.conninfo = conninfo
        try connect()
    }

    deinit { if let conn { PQfinish(conn) } }

    private func connect() throws(PostgresError) {
        if let conn { PQfinish(conn) }
        conn = PQconnectdb(conninfo)
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            // libpq's message can name the host and user but never the password.
            let detail = conn.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? ""
            throw PostgresError(.connectionFailed, "cannot connect to PostgreSQL: \(detail.split(separator: "\n").first ?? "")")
        }
        // libpq prints server notices to stderr by default; they are not ours to print.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    var isHealthy: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Reconnects if the server went away (a restart, a terminated backend): the pool calls it
    /// before lending. Reading what is pending on the socket, without blocking, reveals a closed
    /// connection that `PQstatus` alone still reports as fine.
    func ensureConnected() throws(PostgresError) {
        // Twice: a terminated backend's last message is read first, its end-of-file second.
        if let conn, PQconsumeInput(conn) == 1, PQconsumeInput(conn) == 1, PQstatus(conn) == CONNECTION_OK,
           PQtransactionStatus(conn) == PQTRANS_IDLE {
            return
        }
        try connect()
    }

    var socket: Int32 { conn.map { PQsocket($0) } ?? -1 }

    /// Runs one statement with bound text parameters; returns rows and the affected-row count.
    func run(_ query: PostgresQuery) throws(PostgresError) -> (rows: [PostgresRow], affected: Int) {
        guard let conn else { throw PostgresError(.connectionFailed, "not connected") }
        let result: OpaquePointer? = withCStrings(query.binds) { values in
            PQexecParams(conn, query.sql, Int32(query.binds.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        try check(result)
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                values.append(PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(r), Int32(c))))
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? rowCount
        return (rows, affected)
    }

    /// Runs a trusted multi-statement script (migrations) with the simple-query protocol: no
    /// parameters, so it must never contain input.
    func runScript(_ sql: String) throws(PostgresError) {
        guard let conn else { throw PostgresError(.connectionFailed, "not connected") }
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result)
    }

    /// Starts `COPY … FROM STDIN`, sends every chunk, and finishes; returns the rows copied.
    func copyIn(_ sql: String, chunks: () throws -> [UInt8]?) throws -> Int {
        guard let conn else { throw PostgresError(.connectionFailed, "not connected") }
        let start = PQexec(conn, sql)
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            try check(start)
            throw PostgresError(.invalidQuery, "the statement is not COPY FROM STDIN")
        }
        PQclear(start)
        var failure: (any Error)?
        do {
            while let chunk = try chunks() {
                let sent = chunk.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
                }
                if sent != 1 { throw PostgresError(.connectionFailed, "the connection failed during COPY") }
            }
        } catch {
            failure = error
        }
        PQputCopyEnd(conn, failure == nil ? nil : "aborted by the client")
        let end = PQgetResult(conn)
        defer {
            PQclear(end)
            while let extra = PQgetResult(conn) { PQclear(extra) }
        }
        if let failure { throw failure }
        try check(end)
        return Int(String(cString: PQcmdTuples(end))) ?? 0
    }

    /// Runs `COPY … TO STDOUT`, handing each row's bytes to `sink`; returns the rows copied.
    func copyOut(_ sql: String, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        guard let conn else { throw PostgresError(.connectionFailed, "not connected") }
        let start = PQexec(conn, sql)
        if PQresultStatus(start) != PGRES_COPY_OUT {
            defer { PQclear(start) }
            try check(start)
            throw PostgresError(.invalidQuery, "the statement is not COPY TO STDOUT")
        }
        PQclear(start)
        var rows = 0
        var sinkError: (any Error)?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &buffer, 0)
            if length > 0, let buffer {
                if sinkError == nil {
                    do {
                        try sink(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
                    } catch { sinkError = error }
                }
                PQfreemem(buffer)
                rows += 1
            } else {
                break
            }
        }
        let end = PQgetResult(conn)
        defer {
            PQclear(end)
            while let extra = PQgetResult(conn) { PQclear(extra) }
        }
        if let sinkError { throw sinkError }
        try check(end)
        return rows
    }

    /// Waits up to `timeoutMilliseconds` for notifications on a connection that ran `LISTEN`.
    func waitForNotifications(timeoutMilliseconds: Int32) throws(PostgresError) -> [PostgresNotification] {
        guard let conn else { throw PostgresError(.connectionFailed, "not connected") }
        var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        _ = poll(&fds, 1, timeoutMilliseconds)
        if PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK {
            throw PostgresError(.connectionFailed, "the listening connection was lost")
        }
        var notifications: [PostgresNotification] = []
        while let n = PQnotifies(conn) {
            notifications.append(PostgresNotification(
                channel: String(cString: n.pointee.relname), payload: String(cString: n.pointee.extra)
            ))
            PQfreemem(n)
        }
        return notifications
    }

    private func check(_ result: OpaquePointer?) throws(PostgresError) {
        guard let result else {
            throw PostgresError(.connectionFailed, "the database connection was lost")
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_EMPTY_QUERY:
            return
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let constraint = PQresultErrorField(result, Int32(UInt8(ascii: "n"))).map { String(cString: $0) }
            if let state { throw PostgresError.from(sqlState: state, constraint: constraint) }
            if !isHealthy { throw PostgresError(.connectionFailed, "the database connection was lost") }
            throw PostgresError(.server, "the database reported an error")
        }
    }

    /// The server's own message for the last error, for logs only (may contain values).
    var lastServerMessage: String { conn.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? "" }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings` (nil stays NULL).
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } }
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeMutableBufferPointer { buffer in
        body(buffer.map { $0.map { UnsafePointer($0) } })
    }
}
