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

/// Which part of a suite one machine runs: shard `index` of `count` (1-based), by position in
/// the suite's sorted ids, so every shard is known before anything runs.
public struct Shard: Sendable, Hashable, Codable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parse `K/N` with 1 ≤ K ≤ N.
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
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
