#if !LIBFUZZER
import Foundation

/// Without libFuzzer (a normal build): `nexa-fuzz [SECONDS] [SEED]` mutates the seeds at random
/// for a bounded time. Reproducible with its seed; not coverage guided.
/// `nexa-fuzz --write-seeds DIR` writes the seed inputs as a libFuzzer corpus.
@main
struct RandomFuzzer {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "--write-seeds", let folder = arguments.dropFirst().first {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (i, seed) in FuzzTarget.seeds().enumerated() {
                try Data(seed).write(to: URL(fileURLWithPath: folder).appendingPathComponent("seed-\(i)"))
            }
            return
        }
        let seconds = arguments.first.flatMap(Int.init) ?? 20
        let seed = arguments.dropFirst().first.flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let seeds = FuzzTarget.seeds()
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        var inputs = 0
        while ContinuousClock.now < deadline {
            for _ in 0..<500 {
                var input = seeds[Int(rng.next() % UInt64(seeds.count))]
                mutate(&input, rng: &rng)
                input.withUnsafeBytes { FuzzTarget.run($0) }
                inputs += 1
            }
        }
        print("nexa-fuzz: \(inputs) random inputs (seed \(seed)), no crash")
    }

    static func mutate(_ input: inout [UInt8], rng: inout SplitMix64) {
        for _ in 0..<(1 + Int(rng.next() % 8)) {
            switch rng.next() % 4 {
            case 0 where !input.isEmpty: input[Int(rng.next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1: input.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(input.count + 1)))
            case 2 where !input.isEmpty: input.remove(at: Int(rng.next() % UInt64(input.count)))
            default: input += input.prefix(Int(rng.next() % 32))
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
#endif
