import Messages
import NIOCore
import RPCNIO

/// `nexa-fuzz [SECONDS] [SEED]`: feeds random and mutated bytes to the frame decoders (split at
/// random points, as TCP delivers them) and every decoded body to the protobuf-c message
/// decoders, for a bounded time. A crash or a hang is the failure; it prints what it exercised.
@main
struct Fuzz {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        let seconds = arguments.first.flatMap(Int.init) ?? 20
        var rng = SplitMix64(seed: arguments.dropFirst().first.flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max))
        let seeds = seedInputs()
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        var inputs = 0, frames = 0, decodedMessages = 0, refused = 0
        while ContinuousClock.now < deadline {
            for _ in 0..<200 {
                var input = seeds[Int(rng.next() % UInt64(seeds.count))]
                mutate(&input, rng: &rng)
                inputs += 1
                let processor = NIOSingleStepByteToMessageProcessor(RequestFrameDecoder(maximumBodySize: 64 * 1024))
                let responses = NIOSingleStepByteToMessageProcessor(ResponseFrameDecoder(maximumBodySize: 64 * 1024))
                var offset = 0
                do {
                    while offset < input.count {
                        let step = 1 + Int(rng.next() % UInt64(max(1, input.count - offset)))
                        let chunk = ByteBuffer(bytes: input[offset..<min(input.count, offset + step)])
                        offset += step
                        try processor.process(buffer: chunk) { frame in
                            frames += 1
                            decodedMessages += decodeAll(Array(buffer: frame.body))
                        }
                    }
                } catch { refused += 1 }
                do {
                    try responses.process(buffer: ByteBuffer(bytes: input)) { frame in
                        decodedMessages += decodeAll(Array(buffer: frame.body))
                    }
                } catch { refused += 1 }
            }
        }
        print("nexa-fuzz: \(inputs) inputs, \(frames) frames, \(decodedMessages) bodies decoded, \(refused) refused, no crash")
    }

    /// Tries the body as every request message; returns how many accepted it.
    static func decodeAll(_ body: [UInt8]) -> Int {
        var accepted = 0
        if (try? RPCV1.EchoRequest(serializedBytes: body)) != nil { accepted += 1 }
        if (try? RPCV1.HealthCheckRequest(serializedBytes: body)) != nil { accepted += 1 }
        if (try? RPCV1.ListMethodsRequest(serializedBytes: body)) != nil { accepted += 1 }
        if (try? RPCV1.ListMethodsResponse(serializedBytes: body)) != nil { accepted += 1 }
        if (try? RPCV1.Status(serializedBytes: body)) != nil { accepted += 1 }
        return accepted
    }

    static func seedInputs() -> [[UInt8]] {
        var echo = RPCV1.EchoRequest()
        echo.text = "hi"
        echo.n = 41
        var context = RPCV1.RequestContext()
        context.apiKey = "nexa_0123456789abcdef_secret"
        context.timeoutMs = 1000
        echo.context = context
        var list = RPCV1.ListMethodsResponse()
        var info = RPCV1.MethodInfo()
        info.name = "Echo"
        list.methods = [info, info]
        return [echo.serializedBytes(), list.serializedBytes(), []].map { body in
            var frame: [UInt8] = []
            for word in [UInt32(2), UInt32(body.count), UInt32(7)] {
                withUnsafeBytes(of: word.littleEndian) { frame += $0 }
            }
            return frame + body
        } + [[0, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0x0a, 0x02, 0x68, 0x69, 0x10, 0x29]]
    }

    static func mutate(_ input: inout [UInt8], rng: inout SplitMix64) {
        let count = 1 + Int(rng.next() % 8)
        for _ in 0..<count {
            switch rng.next() % 5 {
            case 0 where !input.isEmpty: input[Int(rng.next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1: input.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(input.count + 1)))
            case 2 where !input.isEmpty: input.remove(at: Int(rng.next() % UInt64(input.count)))
            case 3: input += input.prefix(Int(rng.next() % 32))
            default:
                if input.count >= 8 {
                    let i = 4 + Int(rng.next() % 4)
                    input[i] = [0x00, 0xff, 0x7f, 0x80][Int(rng.next() % 4)]
                }
            }
        }
    }
}

/// A small, seedable generator so a failing run can be repeated.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
