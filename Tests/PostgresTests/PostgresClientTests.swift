import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite(.hangGuard) struct PostgresClientTests {
    @Test func everyColumnTypeRoundTrips() async throws {
        let db = try await TestDatabase.fresh().client
        try await db.execute("""
            CREATE TABLE t (i int, b bigint, s text, f boolean, d double precision, u uuid, ts timestamptz,
                            by bytea, arr text[], n text)
            """)
        let id = UUID()
        let when = Date(timeIntervalSince1970: 1_735_689_600.123456)
        let bytes: [UInt8] = [0, 1, 2, 0xfe, 0xff]
        let tags = PostgresTextArray(["a", "with,comma", "with \"quote\"", "back\\slash", ""])
        let text = "Robert'); DROP TABLE t;-- ünïcødé"
        try await db.execute("""
            INSERT INTO t VALUES (\(Int32(-42)), \(Int64.max), \(text), \(true), \(3.25), \(id), \(when), \(bytes), \(tags), \(String?.none))
            """)
        let row = try #require(try await db.query("SELECT i, b, s, f, d, u, ts, by, arr, n FROM t").first)
        let (i, b, s, f, d, u, ts, by, arr) = try row.decode((Int32, Int64, String, Bool, Double, UUID, Date, [UInt8], PostgresTextArray).self)
        #expect(i == -42 && b == Int64.max && s == text && f && d == 3.25 && u == id)
        #expect(abs(ts.timeIntervalSince(when)) < 0.000_001)
        #expect(by == bytes)
        #expect(arr == tags)
        #expect(try row.decodeIfPresent(String.self, at: 9) == nil)
        #expect(throws: PostgresError.self) { try row.decode(String.self, at: 9) }
        #expect(try row.decode(String.self, column: "s") == text)
        // The injection attempt was data, not SQL: the table is still there.
        #expect(try await db.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 1)
    }

    @Test func timestampsWithOffsetsDecode() throws {
        #expect(try Date(postgresText: "2025-01-01 00:00:00+00") == Date(timeIntervalSince1970: 1_735_689_600))
        #expect(try Date(postgresText: "2025-01-01 05:30:00+05:30") == Date(timeIntervalSince1970: 1_735_689_600))
        #expect(try Date(postgresText: "2024-12-31 19:00:00.5-05") == Date(timeIntervalSince1970: 1_735_689_600.5))
    }

    @Test func errorsAreTypedAndNeverContainValues() async throws {
        let db = try await TestDatabase.fresh().client
        try await db.execute("CREATE TABLE u (email text PRIMARY KEY, n int CHECK (n > 0))")
        try await db.execute("INSERT INTO u VALUES (\("secret@example.com"), 1)")
        do {
            try await db.execute("INSERT INTO u VALUES (\("secret@example.com"), 1)")
            Issue.record("duplicate insert succeeded")
        } catch let error as PostgresError {
            #expect(error.code == .uniqueViolation)
            #expect(error.sqlState == "23505")
            #expect(error.constraint == "u_pkey")
            #expect(!error.message.contains("secret"))
        }
        await #expect(throws: PostgresError.self) { try await db.execute("INSERT INTO u VALUES ('x', -1)") }
        do { try await db.execute("SELEC nonsense") } catch let error as PostgresError { #expect(error.code == .invalidQuery) }
        do { try await db.execute("SELECT \("nope")::int") } catch let error as PostgresError { #expect(error.code == .invalidValue) }
    }

    @Test func transactionsCommitOrRollBack() async throws {
        let db = try await TestDatabase.fresh().client
        try await db.execute("CREATE TABLE a (n int)")
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await db.withTransaction { tx in
                try await tx.execute("INSERT INTO a VALUES (1)")
                throw Boom()
            }
        }
        try await db.withTransaction { tx in try await tx.execute("INSERT INTO a VALUES (2)") }
        let values = try await db.query("SELECT n FROM a").map { try $0.decode(Int.self, at: 0) }
        #expect(values == [2])
    }

    @Test func serializationFailuresAreRetried() async throws {
        let db = try await TestDatabase.fresh(maximumConnections: 8).client
        try await db.execute("CREATE TABLE counter (n int)")
        try await db.execute("INSERT INTO counter VALUES (0)")
        let attempts = Attempts()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var first = true
                    try await db.withTransaction(isolation: .serializable, maximumAttempts: 50) { tx in
                        attempts.count.add(1, ordering: .relaxed)
                        let n = try await tx.query("SELECT n FROM counter").first!.decode(Int.self, at: 0)
                        // Every first attempt reads before any writes: all eight overlap, seven must retry.
                        if first {
                            first = false
                            attempts.read.add(1, ordering: .relaxed)
                            try await Wait.until("all eight transactions have read") { attempts.read.load(ordering: .relaxed) == 8 }
                        }
                        try await tx.execute("UPDATE counter SET n = \(n + 1)")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await db.query("SELECT n FROM counter").first?.decode(Int.self, at: 0) == 8)
        #expect(attempts.count.load(ordering: .relaxed) >= 8 + 7)  // every overlapping writer but one ran again
    }

    final class Attempts: Sendable {
        let count = Atomic<Int>(0)
        let read = Atomic<Int>(0)
    }

    @Test func copyInAndOutStream() async throws {
        let db = try await TestDatabase.fresh().client
        try await db.execute("CREATE TABLE c (id int, name text)")
        let chunks = Chunks(rows: 10_000)
        let copied = try await db.withConnection { try await $0.copyIn("COPY c (id, name) FROM STDIN WITH (FORMAT csv)", next: chunks.next) }
        #expect(copied == 10_000)
        let (count, sum) = try #require(try await db.query("SELECT count(*), sum(id) FROM c").first).decode((Int, Int).self)
        #expect(count == 10_000 && sum == 49_995_000)
        let collected = Collected()
        let out = try await db.withConnection {
            try await $0.copyOut("COPY (SELECT id, name FROM c WHERE id < 3 ORDER BY id) TO STDOUT WITH (FORMAT csv)") { row in
                collected.rows.withLock { $0.append(String(decoding: row, as: UTF8.self)) }
            }
        }
        #expect(out == 3)
        #expect(collected.rows.withLock { $0 } == ["0,\"name, 0\"\n", "1,\"name, 1\"\n", "2,\"name, 2\"\n"])
    }

    @Test func copyInRollsBackOnBadData() async throws {
        let db = try await TestDatabase.fresh().client
        try await db.execute("CREATE TABLE c (id int)")
        let bad = Chunks(lines: ["1\n", "2\n", "not a number\n"])
        await #expect(throws: PostgresError.self) {
            try await db.withConnection { try await $0.copyIn("COPY c FROM STDIN WITH (FORMAT csv)", next: bad.next) }
        }
        #expect(try await db.query("SELECT count(*) FROM c").first?.decode(Int.self, at: 0) == 0)
        // The connection is still usable afterwards.
        #expect(try await db.query("SELECT 1").count == 1)
    }

    @Test func binaryCopyStoresEveryTypeExactly() async throws {
        let db = try await TestDatabase.fresh().client
        try await db.execute("CREATE TABLE b (id uuid, name text, note text, doc jsonb, data bytea)")
        let id = UUID()
        let everyByte = (0...255).map(UInt8.init)
        var rows = PostgresBinaryCopyRows(fieldsPerRow: 5)
        for (name, note) in [("tab\tnew\nline \\ “quoted” é ✓", Optional("a note")), ("", nil)] {
            rows.startRow()
            rows.append(id)
            rows.append(name)
            rows.append(note)
            rows.append(jsonb: Array(#"{"k": "v \"q\" \u00e9", "n": [1, 2]}"#.utf8))
            rows.append(bytea: everyByte)
        }
        let data = rows.finish()
        let copied = try await db.withConnection { connection in
            try await connection.withBlockingSession { try $0.copyIn("COPY b FROM STDIN (FORMAT binary)", data: data) }
        }
        #expect(copied == 2)
        let stored = try await db.query("SELECT id, name, note, doc->>'k', doc->'n'->>1, data FROM b ORDER BY name DESC")
        #expect(stored.count == 2)
        let first = try stored[0].decode((UUID, String).self)
        #expect(first.0 == id && first.1 == "tab\tnew\nline \\ “quoted” é ✓")
        #expect(try stored[0].decodeIfPresent(String.self, at: 2) == "a note")
        #expect(try stored[0].decode(String.self, at: 3) == "v \"q\" é")
        #expect(try stored[0].decode(String.self, at: 4) == "2")
        #expect(try stored[0].decode([UInt8].self, at: 5) == everyByte)
        #expect(try stored[1].decode(String.self, at: 1) == "")
        #expect(try stored[1].decodeIfPresent(String.self, at: 2) == nil)
    }

    final class Chunks: Sendable {
        let lines: Mutex<[String]>
        init(rows: Int) { lines = Mutex((0..<rows).map { "\($0),\"name, \($0)\"\n" }.reversed()) }
        init(lines: [String]) { self.lines = Mutex(lines.reversed()) }
        var next: @Sendable () throws -> [UInt8]? {
            { [self] in lines.withLock { $0.popLast().map { Array($0.utf8) } } }
        }
    }

    final class Collected: Sendable { let rows = Mutex<[String]>([]) }

    @Test func listenReceivesNotifications() async throws {
        let db = try await TestDatabase.fresh().client
        let stream = db.notifications(channels: ["events", "other"])
        let received = Task {
            var got: [PostgresNotification] = []
            for try await n in stream {
                got.append(n)
                if got.count == 2 { break }
            }
            return got
        }
        // LISTEN is asynchronous: notify once the listener's session has run its last LISTEN.
        try await Wait.until("the listener has subscribed") {
            try await db.query("""
                SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN "other"' AND state = 'idle'
                """).count == 1
        }
        try await db.execute("SELECT pg_notify('events', \("hello"))")
        try await db.execute("SELECT pg_notify('other', \("world"))")
        let got = try await received.value
        #expect(got == [PostgresNotification(channel: "events", payload: "hello"), PostgresNotification(channel: "other", payload: "world")])
    }

    @Test func poolReconnectsAfterItsConnectionsAreKilled() async throws {
        let db = try await TestDatabase.fresh(maximumConnections: 2).client
        let pid = try await db.query("SELECT pg_backend_pid()").first!.decode(Int.self, at: 0)
        // Kill every pooled backend, as a server restart would.
        let admin = try await TestDatabase.fresh(maximumConnections: 1).client
        try await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = \(pid)")
        try await Wait.until("the killed backend has exited") {
            try await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(pid)").isEmpty
        }
        // The pool recovers by itself. The first call may still meet the dead connection (the
        // backend leaves pg_stat_activity a moment before its socket closes): then it fails as a
        // lost connection, never hangs, and the pool replaces the connection for the next call.
        let newPID: Int
        do {
            newPID = try await db.query("SELECT pg_backend_pid()").first!.decode(Int.self, at: 0)
        } catch let error as PostgresError where error.code == .connectionFailed {
            newPID = try await db.query("SELECT pg_backend_pid()").first!.decode(Int.self, at: 0)
        }
        #expect(newPID != pid)
    }

    @Test func poolBoundsConnectionsAndQueuesCallers() async throws {
        let db = try await TestDatabase.fresh(maximumConnections: 3).client
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<30 { group.addTask { try await db.query("SELECT pg_backend_pid()").first!.decode(Int.self, at: 0) } }
            var pids = Set<Int>()
            for try await pid in group { pids.insert(pid) }
            #expect(pids.count <= 3)
        }
    }

    @Test func unreachableServerIsAConnectionError() async throws {
        let db = PostgresClient(conninfo: "postgresql://nexa@127.0.0.1:1/nexa?connect_timeout=2", logger: TestDatabase.logger)
        do {
            try await db.query("SELECT 1")
            Issue.record("query against nothing succeeded")
        } catch let error as PostgresError {
            #expect(error.code == .connectionFailed)
        }
    }
}
