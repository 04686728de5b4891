import Foundation
import StrictrunResults

/// Measured seconds per test from an earlier run (`--balance-from DIR`): each test's native and
/// constrained runs, retries included (what the test costs a shard).
public struct TestDurations: Sendable, Equatable {
    /// Seconds by test id.
    public var seconds: [String: Double]
    /// Where they were read from (absolute).
    public var source: String

    public init(seconds: [String: Double], source: String) {
        self.seconds = seconds
        self.source = source
    }

    /// The durations of the results in `directory` (`results.json`, or `runs.jsonl` when the
    /// run died); a directory with no timed run is refused.
    public static func load(_ directory: String) throws(ConformanceError) -> TestDurations {
        let results = try OutputDirectory.load(directory)
        var seconds: [String: Double] = [:]
        for test in results.tests {
            let attempts = (test.native?.attempts ?? []) + (test.profile?.attempts ?? [])
            guard !attempts.isEmpty else { continue }
            seconds[test.id] = attempts.reduce(0) { $0 + max(0, $1.seconds) }
        }
        guard !seconds.isEmpty else { throw .results("\(directory): no finished run to take durations from") }
        return TestDurations(seconds: seconds, source: directory)
    }

    /// The seconds given to a test the durations do not know: the median of the known ones.
    public var defaultSeconds: Double {
        let sorted = seconds.values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// SHA-256 of the table (`id<TAB>seconds` per line, by id, milliseconds): equal for equal inputs.
    public var sha256: String {
        ContentHash.sha256(seconds.keys.sorted().map { "\($0)\t\(String(format: "%.3f", seconds[$0]!))\n" }.joined())
    }
}

/// Splits a suite's tests into shards (pure).
public enum ShardPlanner {
    /// The tests of `shard`: round-robin by sorted id without durations; with durations, the
    /// balanced assignment. `shard` comes back with its assignment, durations and selection recorded.
    public static func select(_ tests: [PlannedTest], shard: Shard,
                              durations: TestDurations?) -> (shard: Shard, tests: [PlannedTest]) {
        var recorded = shard
        recorded.selection = tests.map(\.id).sorted()
        guard let durations else {
            recorded.assignment = "round-robin"
            return (recorded, shard.select(tests))
        }
        recorded.assignment = "durations"
        recorded.balanceFrom = durations.source
        recorded.durationsSHA256 = durations.sha256
        let fallback = durations.defaultSeconds
        let weights = Dictionary(tests.map { ($0.id, durations.seconds[$0.id] ?? fallback) }) { first, _ in first }
        let bins = balance(weights, count: shard.count)
        let mine = Set(bins[shard.index - 1])
        return (recorded, tests.filter { mine.contains($0.id) }.sorted { $0.id < $1.id })
    }

    /// Longest-processing-time-first: tests by seconds, longest first (ties by id), each onto
    /// the shard with the least seconds so far (ties: the lowest shard). The ids of each shard.
    public static func balance(_ seconds: [String: Double], count: Int) -> [[String]] {
        precondition(count >= 1)
        let order = seconds.keys.sorted { a, b in
            let (da, db) = (seconds[a]!, seconds[b]!)
            return da != db ? da > db : a < b
        }
        var bins = Array(repeating: [String](), count: count)
        var loads = Array(repeating: 0.0, count: count)
        for id in order {
            var target = 0
            for index in 1..<count where loads[index] < loads[target] { target = index }
            bins[target].append(id)
            loads[target] += seconds[id]!
        }
        return bins.map { $0.sorted() }
    }

    /// Each shard's predicted seconds under `seconds` (for the notes and benchmarks).
    public static func loads(_ bins: [[String]], seconds: [String: Double]) -> [Double] {
        bins.map { $0.reduce(0) { $0 + (seconds[$1] ?? 0) } }
    }
}
