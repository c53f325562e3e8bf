import ArgumentParser
import CurlHTTP
import Foundation
import Messages

/// `nexactl import contacts|leads|accounts FILE`: uploads through the gateway, then follows the job
/// with a live progress bar and prints its summary.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Import a CSV file, or undo an import.",
                                                    subcommands: [Contacts.self, Leads.self, Accounts.self, Undo.self])

    struct Undo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete what an import created and restore what it updated; rows changed since are left alone and listed.")
        @Argument(help: "Import job id.") var job: String
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            var request = DataTransferV1.ImportJobRequest()
            request.jobID = job
            let report = try await service.rpc("data_transfer") {
                try await DataTransferV1.DataTransferService.Client(transport: $0).undoImport(request, options: $1)
            }
            print("deleted \(report.deleted) created record(s), restored \(report.restored) updated record(s)")
            if !report.refused.isEmpty {
                print("left alone (changed since the import, or in use): \(report.refused.count)")
                for record in report.refused.prefix(50) { print("  \(record)") }
            }
        }
    }

    struct Contacts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import contacts from a CSV file (RFC 4180; comma, semicolon or tab; UTF-8), deduplicated by email.",
            discussion: "Fields: email (required), first_name, last_name, phone, title, account.name, tags, custom.<key>. Without --map, "
                + "the mapping is suggested from the headers (the rest become custom fields).")
        @OptionGroup var options: FileImport
        func run() async throws { try await options.run(entity: "contacts") }
    }

    struct Leads: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import leads from a CSV file, deduplicated by email.",
            discussion: "Fields: email (required), first_name, last_name, company, status (new, contacted, qualified, unqualified, converted).")
        @OptionGroup var options: FileImport
        func run() async throws { try await options.run(entity: "leads") }
    }

    struct Accounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import accounts from a CSV file, deduplicated by normalised name.",
            discussion: "Fields: name (required), domain (a web address is reduced to its domain).")
        @OptionGroup var options: FileImport
        func run() async throws { try await options.run(entity: "accounts") }
    }

    /// What every `nexactl import <entity>` takes.
    struct FileImport: ParsableArguments {
        @Argument(help: "The CSV file.") var file: String
        @Option(help: "'Header=field' (a field of the entity, see the command's help); repeatable.")
        var map: [String] = []
        @Option(help: "fail (any invalid row fails the import) or skip (import the valid rows).") var mode = "fail"
        @Flag(help: "Check and plan without writing.") var dryRun = false
        @Option(help: "Email the summary to this address when the import ends.") var notify: String?
        @Option(help: "Apply the mapping saved under this name.") var template: String?
        @Option(help: "Save the mapping used under this name (applied by itself to later files with the same headers).") var saveTemplate: String?
        @Option(help: "The gateway's public URL (default $NEXA_GATEWAY_URL or http://127.0.0.1:8080).")
        var gatewayURL = ProcessInfo.processInfo.environment["NEXA_GATEWAY_URL"] ?? "http://127.0.0.1:8080"
        @OptionGroup var service: ServiceOptions

        func run(entity: String) async throws {
            let key = service.apiKey
            guard !key.isEmpty else { fail("an API key is needed: --api-key or $NEXA_API_KEY", code: 2) }
            guard FileManager.default.isReadableFile(atPath: file) else { fail("cannot read \(file)", code: 2) }
            var query = [("entity", entity), ("mode", mode), ("file_name", URL(fileURLWithPath: file).lastPathComponent)]
            if dryRun { query.append(("dry_run", "true")) }
            if let notify { query.append(("notify", notify)) }
            if let template { query.append(("template", template)) }
            if let saveTemplate { query.append(("save_template", saveTemplate)) }
            query += map.map { ("map", $0) }
            let url = gatewayURL + "/v1/imports?" + query.map { "\($0.0)=\(HTTPClientRequest.formEncode($0.1))" }.joined(separator: "&")
            let http = HTTPClient()
            let auth = [HTTPClientRequest.Header("Authorization", "Bearer \(key)"), .init("Content-Type", "text/csv")]
            // The file streams from disk as it is sent (it may be larger than memory).
            let created = try await http.execute(HTTPClientRequest(method: "POST", url: url, headers: auth, bodyFile: file), timeout: .seconds(600))
            guard created.status == 201, var job = Self.object(created.body), let id = job["id"] as? String else {
                fail("the gateway refused the upload (HTTP \(created.status)): \(Self.object(created.body)?["message"] as? String ?? created.bodyText)")
            }
            let interactive = isatty(STDOUT_FILENO) == 1
            var shown = -1
            // Asked 10 times a second, more often at the start and near the end, so the end is seen at once.
            var pause = 25  // milliseconds
            while ["queued", "running"].contains(job["status"] as? String ?? "") {
                let percent = (job["percent"] as? NSNumber)?.intValue ?? 0
                if interactive || percent != shown { Self.progress(job, interactive: interactive) }
                shown = percent
                try await Task.sleep(for: .milliseconds(percent >= 80 ? 20 : pause))
                pause = min(100, pause * 2)
                let response = try await http.execute(HTTPClientRequest(url: gatewayURL + "/v1/imports/\(id)", headers: auth))
                guard response.status == 200, let next = Self.object(response.body) else { fail("cannot read job \(id): HTTP \(response.status)") }
                job = next
            }
            Self.progress(job, interactive: interactive)
            if interactive { print("") }  // ends the bar's line
            let n = { (name: String) in (job[name] as? NSNumber)?.intValue ?? 0 }
            print("""
                job \(id): \(job["status"] as? String ?? "?")\((job["dryRun"] as? Bool) == true ? " (dry run)" : ""), mapping \(job["mappingSource"] as? String ?? "?")
                total \(n("total")), created \(n("created")), updated \(n("updated")), skipped \(n("skipped")), merged \(n("merged")), \
                \(String(format: "%.1f", Double(n("durationMs")) / 1000)) s
                """)
            if let error = job["error"] as? String, !error.isEmpty { print("error: \(error)") }
            for problem in (job["problems"] as? [[String: Any]] ?? []).prefix(20) {
                print("  row \((problem["row"] as? NSNumber)?.intValue ?? 0), \(problem["field"] as? String ?? ""): \(problem["message"] as? String ?? "")")
            }
            if n("rowsWithWarnings") > 0 {
                print("\(n("rowsWithWarnings")) row(s) read as a spreadsheet would (imported; check them):")
            }
            for warning in (job["warnings"] as? [[String: Any]] ?? []).prefix(20) {
                print("  row \((warning["row"] as? NSNumber)?.intValue ?? 0), \(warning["field"] as? String ?? ""): \(warning["message"] as? String ?? "")")
            }
            if let errors = job["errorsFile"] as? String, !errors.isEmpty {
                print("rows with errors, as CSV: \(gatewayURL)/v1/imports/\(id)/errors")
            }
            if job["status"] as? String != "completed" { throw ExitCode(1) }
        }

        static func object(_ bytes: [UInt8]) -> [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
        }

        /// `[##########··········]  50%  5000/10000  created 4500  updated 500  skipped 0`
        static func progress(_ job: [String: Any], interactive: Bool) {
            let n = { (name: String) in (job[name] as? NSNumber)?.intValue ?? 0 }
            let percent = n("percent")
            let bar = String(repeating: "#", count: percent / 5) + String(repeating: "·", count: 20 - percent / 5)
            let line = "[\(bar)] \(String(format: "%3d", percent))%  \(n("processed"))/\(n("total"))  created \(n("created"))  updated \(n("updated"))  skipped \(n("skipped"))"
            // A terminal gets one line redrawn; a log gets a line per change.
            FileHandle.standardOutput.write(Data(((interactive ? "\r" : "") + line + (interactive ? "" : "\n")).utf8))
        }
    }
}

/// `nexactl export contacts --fields email,first_name --tag customer --created-after 2025-01-01`.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export records as CSV.", subcommands: [Contacts.self])

    struct Contacts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export contacts; prints a download link valid 7 days.")
        @Option(help: "Comma-separated fields: email, first_name, last_name, phone, title, account.name, tags, created_at, updated_at, custom.<key>.")
        var fields: String?
        @Option(name: .customLong("tag"), help: "Contacts with any of these tags; repeatable.") var tagsAny: [String] = []
        @Option(name: .customLong("all-tags"), help: "Contacts with all of these tags (comma-separated).") var tagsAll: String?
        @Option(help: "Created on or after (YYYY-MM-DD or ISO 8601).") var createdAfter: String?
        @Option(help: "Created before.") var createdBefore: String?
        @Option(help: "Updated on or after.") var updatedAfter: String?
        @Option(help: "Only this account's contacts.") var account: String?
        @Option(help: "Also email the download link to this address.") var notify: String?
        @Option(help: "The gateway's public URL (default $NEXA_GATEWAY_URL or http://127.0.0.1:8080).")
        var gatewayURL = ProcessInfo.processInfo.environment["NEXA_GATEWAY_URL"] ?? "http://127.0.0.1:8080"
        @OptionGroup var service: ServiceOptions

        static func millis(_ text: String?) throws -> Int64? {
            guard let text else { return nil }
            let formatter = ISO8601DateFormatter()
            if let date = formatter.date(from: text) ?? formatter.date(from: text + "T00:00:00Z") { return Int64(date.timeIntervalSince1970 * 1000) }
            throw ValidationError("\(text) is not a date (YYYY-MM-DD or ISO 8601)")
        }

        func run() async throws {
            let key = service.apiKey
            guard !key.isEmpty else { fail("an API key is needed: --api-key or $NEXA_API_KEY", code: 2) }
            var body: [String: Any] = ["entity": "contacts"]
            if let fields { body["fields"] = fields.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if !tagsAny.isEmpty { body["tagsAny"] = tagsAny }
            if let tagsAll { body["tagsAll"] = tagsAll.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if let v = try Self.millis(createdAfter) { body["createdAfterUnixMs"] = v }
            if let v = try Self.millis(createdBefore) { body["createdBeforeUnixMs"] = v }
            if let v = try Self.millis(updatedAfter) { body["updatedAfterUnixMs"] = v }
            if let account { body["accountId"] = account }
            if let notify { body["notifyEmail"] = notify }
            let response = try await HTTPClient().execute(.json(gatewayURL + "/v1/exports", Array(try JSONSerialization.data(withJSONObject: body)),
                                                                headers: [.init("Authorization", "Bearer \(key)")]), timeout: .seconds(600))
            let answer = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
            guard response.status == 201 else { fail("export refused (HTTP \(response.status)): \(answer["message"] as? String ?? response.bodyText)") }
            print("\((answer["rows"] as? NSNumber)?.intValue ?? 0) contact(s), fields \((answer["fields"] as? [String] ?? []).joined(separator: ","))")
            print("download (until \(answer["expires_at"] as? String ?? "?")): \(answer["download_url"] as? String ?? "")")
            if let notify {
                print(answer["emailed_to"] is String ? "link emailed to \(notify)" : "the link could not be emailed to \(notify) (see the gateway's log)")
            }
        }
    }
}
