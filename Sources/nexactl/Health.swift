import ArgumentParser
import Foundation
import Messages
import Platform
import RPC
import RPCNIO

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every service's health (a table); exits 1 if any is not serving.")

    @OptionGroup var service: ServiceOptions

    func run() async throws {
        print("SERVICE         ADDRESS           STATUS            LATENCY")
        var allServing = true
        for name in ServiceSettings.services {
            let port = try service.port(of: name)
            let client = try service.client(of: name, attempts: 1)
            let start = ContinuousClock.now
            let status: String
            do {
                let json = try await ServiceDirectory.callJSON(
                    service: name, method: "Check", json: Array("{}".utf8), transport: client,
                    options: CallOptions(timeout: .seconds(2))
                )
                let response = try JSONDecoder().decode(RPCV1.HealthCheckResponse.self, from: Data(json))
                status = RPCV1.ServingStatus.protoNames[response.status.rawValue] ?? "\(response.status.rawValue)"
                if response.status != .serving { allServing = false }
            } catch let error as RPCError {
                status = error.code.description
                allServing = false
            }
            let ms = Double(start.duration(to: .now).components.attoseconds) / 1e15
            print(
                name.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + "\(service.host):\(port)".padding(toLength: 18, withPad: " ", startingAt: 0)
                    + status.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: "%.1f ms", ms)
            )
            await client.close()
        }
        if !allServing { throw ExitCode(1) }
    }
}

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call a method with a JSON request and print the JSON response, like grpcurl.",
        discussion: "Example: nexactl call billing.Echo '{\"text\":\"hi\",\"n\":41}'"
    )

    @Argument(help: "<service>.<Method>, e.g. billing.ListMethods (service short names: \(ServiceSettings.services.joined(separator: ", "))).")
    var target: String

    @Argument(help: "The request as proto3 JSON (default {}).")
    var json: String = "{}"

    @OptionGroup var service: ServiceOptions

    func run() async throws {
        let parts = target.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, ServiceSettings.services.contains(parts[0]) else {
            fail("'\(target)' is not <service>.<Method>; services: \(ServiceSettings.services.joined(separator: ", "))", code: 2)
        }
        let client = try service.client(of: parts[0])
        defer { Task { await client.close() } }
        do {
            let response = try await ServiceDirectory.callJSON(
                service: parts[0], method: parts[1], json: Array(json.utf8), transport: client,
                options: CallOptions(timeout: .milliseconds(Int64(service.timeout * 1000)), apiKey: service.apiKey.isEmpty ? nil : service.apiKey)
            )
            print(String(decoding: response, as: UTF8.self))
        } catch let error as RPCError {
            fail("\(error.code): \(error.message)")
        }
    }
}
