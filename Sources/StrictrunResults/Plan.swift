/// One test to run, found in a suite: its id, file, flags and group.
public struct PlannedTest: Sendable, Hashable, Codable {
    public var id: String
    /// The file, relative to the suite root, when the test is a file.
    public var path: String?
    /// Flags read from the file with the suite's `flags.pattern`.
    public var flags: [String]
    public var group: String
    public var serial: Bool
    public var timeout: Double

    public init(id: String, path: String?, flags: [String], group: String, serial: Bool, timeout: Double) {
        self.id = id
        self.path = path
        self.flags = flags
        self.group = group
        self.serial = serial
        self.timeout = timeout
    }
}

/// Which part of a suite one machine runs: shard `index` of `count` (1-based). Without
/// durations, every `count`-th test by sorted id (round-robin); with durations (`--balance-from`),
/// longest first onto the least-loaded shard. Either way every shard is known before anything runs.
public struct Shard: Sendable, Hashable, Codable, CustomStringConvertible {
    public var index: Int
    public var count: Int
    /// Where the shard came from: `option` (`--shard`), `STRICTRUN_SHARD`, `bazel`
    /// (`TEST_SHARD_INDEX`/`TEST_TOTAL_SHARDS`) or `kubernetes` (`JOB_COMPLETION_INDEX`). Nil in
    /// results written before it was recorded.
    public var source: String?
    /// How tests were assigned: `round-robin` or `durations`.
    public var assignment: String?
    /// The results directory whose durations balanced the shards (`--balance-from`).
    public var balanceFrom: String?
    /// SHA-256 of the durations table used (every shard of one set must have the same).
    public var durationsSHA256: String?
    /// Every test id of the selection that was sharded (the whole suite after `--filter` and
    /// `--limit`), sorted: what a merge of all shards must hold exactly once.
    public var selection: [String]?

    enum CodingKeys: String, CodingKey {
        case index, count, source, assignment, selection
        case balanceFrom = "balance_from"
        case durationsSHA256 = "durations_sha256"
    }

    public init(index: Int, count: Int, source: String? = nil) {
        self.index = index
        self.count = count
        self.source = source
    }

    /// Parse `K/N` with 1 ≤ K ≤ N.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, k >= 1, k <= n else {
            return nil
        }
        self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// The tests of this shard: every `count`-th of `tests` sorted by id, starting at `index`.
    public func select(_ tests: [PlannedTest]) -> [PlannedTest] {
        tests.sorted { $0.id < $1.id }.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }
}
