import Foundation
import ProtoSchema

/// `nexa-protogen OUTPUT_DIR`: writes the generated Swift sources of the `Messages` module,
/// replacing every file in OUTPUT_DIR.
@main
struct ProtoGen {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.count == 1, let output = arguments.first else {
            FileHandle.standardError.write(Data("usage: nexa-protogen OUTPUT_DIR\n".utf8))
            exit(2)
        }
        let files: [String: String]
        do {
            files = try Generator(schema: .compiled()).files()
        } catch {
            FileHandle.standardError.write(Data("nexa-protogen: \(error)\n".utf8))
            exit(1)
        }
        let fm = FileManager.default
        try? fm.removeItem(atPath: output)
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        for (name, contents) in files.sorted(by: { $0.key < $1.key }) {
            try Data(contents.utf8).write(to: URL(fileURLWithPath: output).appendingPathComponent(name))
        }
        print("nexa-protogen: wrote \(files.count) files to \(output)")
    }
}
