import Foundation
import StrictrunConformance
import StrictrunResults
import Testing

/// Thousands of mutated suite files: the reader never crashes, and every rejection names the
/// file and line (and the key, unless the YAML itself is broken).
@Suite("Suite-file fuzzing")
struct SuiteFuzzTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
    static let alphabet = Array(":-{}[],'\"#\t \n&*!|>%@`abcxyz019_.")
    static let words = ["tests", "files", "command", "timeout", "jobs", "groups", "match", "env", "flags",
                        "- ", ": ", "{", "}", "[", "]", "~", "null", "-1", "1e9", "&a", "*a", "{file}", "{nope}"]

    static func mutate(_ text: String, _ rng: inout Generator) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<Int.random(in: 1...3, using: &rng) where !lines.isEmpty {
            let i = Int.random(in: 0..<lines.count, using: &rng)
            var chars = Array(lines[i])
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: i)
            case 2:
                if !chars.isEmpty { chars[Int.random(in: 0..<chars.count, using: &rng)] = alphabet.randomElement(using: &rng)! }
                lines[i] = String(chars)
            case 3:
                chars.insert(contentsOf: words.randomElement(using: &rng)!, at: Int.random(in: 0...chars.count, using: &rng))
                lines[i] = String(chars)
            default: lines[i] = String(chars.prefix(Int.random(in: 0...chars.count, using: &rng)))
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test("2,000 mutated suite files: no crash; every error has file, line and (for non-YAML errors) key")
    func mutatedSuites() throws {
        let suites = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Suites")
        let sources = try ["node-fixtures.yaml", "cpython.yaml", "node-upstream.yaml"].map {
            try String(contentsOf: suites.appendingPathComponent($0), encoding: .utf8)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("suite-fuzz-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let loader = SuiteLoader(environment: ["PATH": "/usr/bin:/bin"])
        var rng = Generator(state: 42)
        var rejected = 0
        for round in 0..<2000 {
            let text = Self.mutate(sources[round % sources.count], &rng)
            // Next to the real suites' relative roots would not resolve; the reader must still say where.
            let path = dir.appendingPathComponent("fuzz-\(round).yaml").path
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            do {
                _ = try loader.load(path: path)
            } catch {
                rejected += 1
                #expect(error.file == path)
                #expect(error.line != nil, "round \(round): no line in '\(error)'\n\(text)")
                #expect(error.message.hasPrefix("YAML") || error.key != nil, "round \(round): no key in '\(error)'")
            }
        }
        #expect(rejected > 500)
    }
}
