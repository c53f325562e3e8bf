import CSV
import TestSupport
import Testing

@Suite(.hangGuard) struct CSVReaderTests {
    static func parse(_ text: String, delimiter: UInt8 = UInt8(ascii: ","), chunk: Int = .max) throws -> [CSVReader.Record] {
        try parse(Array(text.utf8), delimiter: delimiter, chunk: chunk)
    }

    static func parse(_ bytes: [UInt8], delimiter: UInt8 = UInt8(ascii: ","), chunk: Int = .max) throws -> [CSVReader.Record] {
        var reader = CSVReader(delimiter: delimiter)
        var records: [CSVReader.Record] = []
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + min(chunk, bytes.count))
            records += try reader.feed(bytes[i..<end])
            i = end
        }
        if let last = try reader.finish() { records.append(last) }
        return records
    }

    @Test func quotedFieldsEmbeddedNewlinesAndDoubledQuotesAtEveryChunkSize() throws {
        let text = "\u{FEFF}name,note,email\r\n\"Doe, Jane\",\"said \"\"hi\"\"\r\nthen left\",jane@x.test\r\n\r\nBob,,bob@x.test\nÉlodie,\"\",e@x.test"
        let expected = [
            CSVReader.Record(row: 1, fields: ["name", "note", "email"]),
            CSVReader.Record(row: 2, fields: ["Doe, Jane", "said \"hi\"\r\nthen left", "jane@x.test"]),
            CSVReader.Record(row: 5, fields: ["Bob", "", "bob@x.test"]),
            CSVReader.Record(row: 6, fields: ["Élodie", "", "e@x.test"]),
        ]
        for chunk in [1, 2, 3, 7, 64, .max] {
            #expect(try Self.parse(text, chunk: chunk) == expected, "chunk \(chunk)")
        }
    }

    @Test func malformedFilesNameTheRow() {
        #expect(throws: CSVReader.Failure.unclosedQuote(row: 3)) { try Self.parse("a,b\n1,2\n3,\"open\n4,5\n") }
        #expect(throws: CSVReader.Failure.invalidUTF8(row: 2)) { try Self.parse(Array("a,b\n".utf8) + [0x66, 0xFF, 0x2C, 0x31, 0x0A]) }
        #expect(throws: CSVReader.Failure.textAfterClosingQuote(row: 2)) { try Self.parse("a,b\n\"x\"y,1\n") }
    }

    @Test func aQuoteInsideAnUnquotedFieldIsLiteralAsSpreadsheetsReadIt() throws {
        // Each expectation is what Python's csv module reads from the same text.
        let text = "name,size,note\nTV,5\" screen,ok\nPipe,3\"x4\" \"wide\",\"quoted \"\"fine\"\"\"\nab\"\"c,x,\"\"\n"
        let expected = [
            CSVReader.Record(row: 1, fields: ["name", "size", "note"]),
            CSVReader.Record(row: 2, fields: ["TV", "5\" screen", "ok"], warnings: [.literalQuote(field: 1)]),
            CSVReader.Record(row: 3, fields: ["Pipe", "3\"x4\" \"wide\"", "quoted \"fine\""], warnings: [.literalQuote(field: 1)]),
            CSVReader.Record(row: 4, fields: ["ab\"\"c", "x", ""], warnings: [.literalQuote(field: 0)]),
        ]
        for chunk in [1, 2, 5, .max] {
            #expect(try Self.parse(text, chunk: chunk) == expected, "chunk \(chunk)")
        }
        // Quoted fields stay strict.
        #expect(throws: CSVReader.Failure.textAfterClosingQuote(row: 2)) { try Self.parse("a,b\n\"5\" screen,1\n") }
        // The delimiter is still found past such a quote, as the reader will split the line.
        #expect(CSVReader.detectDelimiter(Array("Size 5\";Name;Note\n".utf8)) == UInt8(ascii: ";"))
        #expect(CSVReader.detectDelimiter(Array("\"a\"\"b;c;d\",e\n".utf8)) == UInt8(ascii: ","))  // a doubled quote stays inside
    }

    @Test func cellsAndRowsBeyondTheLimitsAreRefusedNamingTheRowAndColumn() throws {
        let long = String(repeating: "x", count: 128 * 1024 + 1)
        #expect(throws: CSVReader.Failure.fieldTooLong(row: 3, field: 2, limit: 128 * 1024)) {
            _ = try Self.parse("a,b\nok,fine\n1,\(long),3\n", chunk: 4096)
        }
        #expect(throws: CSVReader.Failure.fieldTooLong(row: 2, field: 1, limit: 128 * 1024), "inside quotes too") {
            _ = try Self.parse("a\n\"\(long)\"\n")
        }
        // An unclosed quote would read the rest of the file as one cell: it stops at the cap.
        #expect(throws: CSVReader.Failure.fieldTooLong(row: 2, field: 2, limit: 128 * 1024)) {
            _ = try Self.parse("a,b\n1,\"" + String(repeating: "line\n", count: 40_000), chunk: 65_536)
        }
        let wide = Array(repeating: "c", count: 1025).joined(separator: ",")
        #expect(throws: CSVReader.Failure.tooManyFields(row: 2, limit: 1024)) { _ = try Self.parse("h\n\(wide)\n") }
        #expect(try Self.parse("h\n" + Array(repeating: "c", count: 1024).joined(separator: ",") + "\n")[1].fields.count == 1024)
        #expect(CSVReader.Failure.tooManyFields(row: 7, limit: 1024).description == "row 7: more than 1024 columns")
    }

    @Test func detectsCommaSemicolonAndTab() throws {
        #expect(CSVReader.detectDelimiter(Array("Name;E-mail;\"Company, Inc\"\n1;2;3".utf8)) == UInt8(ascii: ";"))
        #expect(CSVReader.detectDelimiter(Array("Name\tE-mail\tCompany\n".utf8)) == UInt8(ascii: "\t"))
        #expect(CSVReader.detectDelimiter(Array("\u{FEFF}Name,\"a;b;c\",Email\n".utf8)) == UInt8(ascii: ","))
        #expect(CSVReader.detectDelimiter(Array("Email\n".utf8)) == UInt8(ascii: ","))
        #expect(try Self.parse("a;b\n1;\"2;3\"\n", delimiter: UInt8(ascii: ";")).last?.fields == ["1", "2;3"])
    }
}

@Suite(.hangGuard) struct CSVWriterTests {
    @Test func quotesWhatNeedsItAndRoundTrips() throws {
        let fields = ["plain", "with, comma", "with \"quote\"", "two\r\nlines", "", "Élodie"]
        let bytes = CSVWriter().record(fields)
        #expect(String(decoding: bytes, as: UTF8.self) == "plain,\"with, comma\",\"with \"\"quote\"\"\",\"two\r\nlines\",,Élodie\r\n")
        #expect(try CSVReaderTests.parse(bytes).first?.fields == fields)
    }

    @Test func neutralisesFormulaInjection() {
        let bytes = CSVWriter().record(["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "safe=ok"])
        #expect(String(decoding: bytes, as: UTF8.self)
                == "\"'=HYPERLINK(\"\"http://x\"\")\",'+1,'-2,'@SUM(A1),'\tx,\"'\rx\",safe=ok\r\n")
    }

    @Test func formulaGuardComesOffOnTheWayBack() throws {
        let cells = ["=HYPERLINK(\"http://x\")", "+14155550100", "-2", "@SUM(A1)", "'quoted", "'", "plain"]
        let read = try CSVReaderTests.parse(CSVWriter().record(cells)).first?.fields ?? []
        #expect(read.map(CSVWriter.removingFormulaGuard) == cells)
        // An apostrophe before anything else is the value itself.
        #expect(CSVWriter.removingFormulaGuard("'tis") == "'tis")
    }

    @Test func neutralisesAnotherWritersRecordsAsItsOwn() throws {
        // Records as PostgreSQL writes them: quoted only when needed, LF line ends.
        let cases: [(String, [String])] = [
            ("=1+1,plain,\"-x, y\",@SUM(A1)\n", ["'=1+1", "plain", "'-x, y", "'@SUM(A1)"]),
            ("\"\",\"\"\"=quoted\"\"\",+1415\n", ["", "\"=quoted\"", "'+1415"]),
            ("\"=two\nlines\",\ttab,\"\r\"\n", ["'=two\nlines", "'\ttab", "'\r"]),
            (",,\n", ["", "", ""]),
        ]
        for (record, expected) in cases {
            var out: [UInt8] = []
            Array(record.utf8).withUnsafeBytes { CSVWriter().appendNeutralising(record: $0, to: &out) }
            #expect(try CSVReaderTests.parse(out).first?.fields == expected, "\(record)")
        }
        // Byte for byte what this writer makes of the same fields, CRLF included (an LF inside a
        // quoted cell stays as it is).
        let fields = ["=HYPERLINK(\"x\")", "a,b", "-", "", "@", "ok"]
        var neutralised: [UInt8] = []
        Array("\"=HYPERLINK(\"\"x\"\")\",\"a,b\",-,,@,ok\n".utf8).withUnsafeBytes { CSVWriter().appendNeutralising(record: $0, to: &neutralised) }
        #expect(neutralised == CSVWriter().record(fields))
        var multiline: [UInt8] = []
        Array("\"two\nlines\",x\n".utf8).withUnsafeBytes { CSVWriter().appendNeutralising(record: $0, to: &multiline) }
        #expect(String(decoding: multiline, as: UTF8.self) == "\"two\nlines\",x\r\n")
    }
}
