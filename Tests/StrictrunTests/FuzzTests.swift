import Foundation
import StrictrunPolicy
import StrictrunSandbox
import Testing

/// A small deterministic generator (SplitMix64), so a failing mutation can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Thousands of mutated profiles: the parser never crashes, and every rejection names the
/// file and line (and the key, unless the YAML itself is broken).
@Suite("Profile fuzzing")
struct FuzzTests {
    static let alphabet = Array(":-{}[],'\"#\t \n&*!|>%@`abcdefkxyz0129_.")
    static let words = ["fork", "spawn", "exec", "wx", "level", "action", "errno", "deny", "allow", "log", "kill",
                        "extends", "mode", "audit", "rules", "syscall", "EPERM", "no-exec-gain", "escape", "ptrace",
                        "microkernel", "- ", ": ", "{", "}", "[", "]", "~", "null", "0x10", "&a", "*a", "!!str"]

    static func mutate(_ text: String, _ rng: inout SplitMix64) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !lines.isEmpty else { break }
            let i = Int.random(in: 0..<lines.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: i)
            case 2: lines.swapAt(i, Int.random(in: 0..<lines.count, using: &rng))
            case 3:
                var chars = Array(lines[i])
                if !chars.isEmpty {
                    chars[Int.random(in: 0..<chars.count, using: &rng)] = alphabet.randomElement(using: &rng)!
                }
                lines[i] = String(chars)
            case 4:
                var chars = Array(lines[i])
                chars.insert(contentsOf: words.randomElement(using: &rng)!, at: Int.random(in: 0...chars.count, using: &rng))
                lines[i] = String(chars)
            case 5: lines[i] = String(repeating: " ", count: Int.random(in: 0...6, using: &rng))
                + lines[i].trimmingCharacters(in: .whitespaces)
            default: lines[i] = String(lines[i].prefix(Int.random(in: 0...max(0, lines[i].count), using: &rng)))
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test("3,000 mutated profiles: no crash; every error has file, line and (for non-YAML errors) key")
    func mutatedProfiles() throws {
        let dir = try Fixture.temporaryDirectory()
        let sources = try ["microkernel", "microkernel-strict", "apple-jit", "audit"].map {
            try String(contentsOfFile: "\(Fixture.profilesDirectory)/\($0).yaml", encoding: .utf8)
        }
        var rng = SplitMix64(state: 20261125)
        var accepted = 0, rejected = 0
        for round in 0..<3000 {
            let text = Self.mutate(sources[round % sources.count], &rng)
            // Named apart from the shipped ones, so `extends: microkernel` still finds those.
            let path = dir.appendingPathComponent("fuzz-\(round).yaml").path
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            do {
                let profile = try ProfileTests.loader.load(path: path)
                _ = try FilterCompiler().compile(profile)
                accepted += 1
            } catch {
                rejected += 1
                #expect(error.line != nil, "round \(round): no line in '\(error)'\n--- \(path)\n\(text)")
                #expect(error.description.hasPrefix(error.file))
                let yamlSyntax = error.message.hasPrefix("YAML")
                #expect(yamlSyntax || error.key != nil, "round \(round): no key in '\(error)'\n\(text)")
            }
        }
        #expect(accepted > 100 && rejected > 1000, "the mutations explore both sides: \(accepted) / \(rejected)")
    }
}
