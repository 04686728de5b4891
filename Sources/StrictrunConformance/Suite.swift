import Foundation

@_exported import StrictrunYAML

/// A suite file that cannot be used, with the file, line, column and key to fix (the shared
/// `SourceError`: profiles report the same way).
public typealias SuiteError = SourceError

/// A test suite as its YAML file describes it (see `Suites/README.md` for every key):
/// where the tests are, how to run one, and what each needs.
public struct Suite: Sendable {
    /// Where the test ids come from; the sources add up, then `exclude` removes.
    public struct TestSource: Sendable {
        /// Files under the root (globs relative to it); the id is the relative path.
        public var files: [Glob] = []
        /// Ids written out in the suite file.
        public var list: [String] = []
        /// A command whose output lines are ids (e.g. `python -m test --list-tests`).
        public var command: Template?
        public var commandLocation: SourceLocation?
        /// Globs matched against ids: these tests are not run.
        public var exclude: [Glob] = []
        /// Drop the file extension from ids of `files` (`parallel/test-fs.js` → `parallel/test-fs`).
        public var stripExtension = true
    }

    /// Tests that share scheduling: `serial` ones run one at a time after the concurrent ones
    /// (Node's `sequential/`), each group may have its own timeout.
    public struct Group: Sendable {
        public var name: String
        public var match: [Glob]
        public var serial: Bool
        public var timeout: Double?
    }

    public var name: String
    public var description: String
    /// The suite file, absolute.
    public var file: String
    /// The directory test paths are relative to, absolute (`root:` in the file, `--root` wins).
    public var root: String
    /// `variables:` resolved (commands run), then `--set` overrides.
    public var variables: [String: String]
    public var tests: TestSource
    /// The command of one test, e.g. `node {flags} {file}`.
    public var command: Template
    public var commandLocation: SourceLocation?
    /// A regular expression searched in each test file; capture group 1 of every matching line
    /// adds flags (Node's `// Flags: --expose-gc`).
    public var flagsPattern: String?
    /// The working directory of every test (default: the root).
    public var directory: Template
    /// Added to (or replacing in) the caller's environment, which passes through.
    public var environment: [(name: String, value: Template)]
    /// Seconds before a test is killed (its whole process group).
    public var timeout: Double
    /// How many times a failing test is run again in the mode it failed in.
    public var retries: Int
    /// Exit statuses that mean "skipped itself" (regrtest's 4: no test ran, a resource denied).
    public var skipExitCodes: [Int] = []
    public var groups: [Group]
    /// Caller environment variables whose values go into the results (e.g. `NODE_OPTIONS`).
    public var recordEnvironment: [String]

    /// The group `id` belongs to: the first whose `match` matches, else the parallel `default`.
    public func group(of id: String) -> Group {
        groups.first { group in group.match.contains { $0.matches(id) } }
            ?? Group(name: "default", match: [], serial: false, timeout: nil)
    }

    /// Placeholder names every template may use.
    public static let builtinPlaceholders: Set<String> = [
        "root", "file", "path", "name", "flags", "worker", "tmp", "out", "suite-dir", "profile", "mode",
    ]
}

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
