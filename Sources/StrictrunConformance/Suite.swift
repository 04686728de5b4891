import Foundation

@_exported import StrictrunYAML
import StrictrunResults

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
    /// The runtime's version: the output of the suite's `runtime-version` command, run natively
    /// at load. Recorded in the results; a merge refuses inputs whose versions differ.
    public var runtimeVersion: String?
    /// SHA-256 of the suite file's bytes, as loaded.
    public var sha256: String?

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

