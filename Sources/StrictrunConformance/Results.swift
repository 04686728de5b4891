import Foundation
import StrictrunTrace

/// The schema name in `results.json` and in the header line of `runs.jsonl`.
public let conformanceSchema = "strictrun.conformance/1"

/// Natively (the baseline) or under the profile, through `strictrun run`.
public enum RunMode: String, Codable, Sendable, CaseIterable {
    case native
    case profile
}

/// How one run of one test ended.
public enum TestOutcome: String, Codable, Sendable, CaseIterable {
    /// Exit status 0.
    case pass
    /// An exit status the suite names in `skip-exit-codes` (e.g. regrtest's 4: no test ran).
    case skip
    /// Any other exit status.
    case fail
    /// Killed (with its whole process group) after the test's timeout.
    case timeout
    /// Killed by a signal (SIGSEGV, V8's SIGTRAP, SIGABRT…).
    case crash
    /// Could not be run at all (spawn failed, strictrun itself failed): not the test's verdict.
    case error

    /// Fail, timeout, crash or error: a run that is retried.
    public var isFailure: Bool { self != .pass && self != .skip }
}

/// What a test is, once both modes (and any retry) ran.
public enum TestStatus: String, Codable, Sendable, CaseIterable {
    /// Passes natively and under the profile.
    case pass
    /// Passes natively, fails under the profile on both tries: the profile broke it.
    case newFailure = "new-failure"
    /// Fails natively on both tries: excluded from the constraint analysis.
    case baselineFail = "baseline-fail"
    /// Failed, then passed on its retry, in either mode: named, not attributed.
    case flaky
    /// Skipped itself natively (a `skip-exit-codes` status): excluded like a baseline failure.
    case skipped
    /// A run it needs did not finish (interrupted).
    case incomplete
}

/// One stack frame, as the trace has it.
public struct Frame: Codable, Sendable, Hashable {
    public var symbol: String?
    public var module: String?
    public var offset: String?
    public var file: String?
    public var line: Int?

    public init(symbol: String?, module: String?, offset: String?, file: String?, line: Int?) {
        self.symbol = symbol
        self.module = module
        self.offset = offset
        self.file = file
        self.line = line
    }

    /// The symbol without a C++ parameter list, or `module+offset`: for tables.
    public var shortName: String {
        symbol.map(Frame.shortName) ?? "\(module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?")+\(offset ?? "?")"
    }

    /// A demangled C++ name without its parameter list (`shortSymbolName`).
    public static func shortName(_ symbol: String) -> String { shortSymbolName(symbol) }

    /// `symbol (module basename)` or `module+offset`, for one-line messages.
    public var brief: String {
        let module = module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?"
        if let symbol { return "\(symbol) (\(module))" }
        return "\(module)+\(offset ?? "?")"
    }
}

/// A blocked call, as a failure message and a report need it.
public struct BlockedEvent: Codable, Sendable {
    public var seq: Int
    public var pid: Int?
    public var exe: String?
    public var syscall: String
    /// The decoded arguments, as the trace wrote them.
    public var args: JSONArgument?
    public var category: String
    public var rule: String
    public var action: String
    public var errno: String?
    public var site: String?
    /// The top frames (at most 12).
    public var frames: [Frame]

    /// `clone(flags=CLONE_CHILD_SETTID|SIGCHLD) → EPERM [process/fork]`.
    public var oneLine: String {
        var args = ""
        if case .object(let members)? = self.args?.value {
            args = members.prefix(4).map { "\($0.0)=\($0.1.stringValue ?? $0.1.serialized())" }.joined(separator: ", ")
        }
        let result = errno.map { " → \($0)" } ?? (action == "kill" ? " → killed" : "")
        return "\(syscall)(\(args))\(result) [\(category)/\(rule)]"
    }
}

/// The blocked events of one category in one trace.
public struct CategoryHit: Codable, Sendable, Hashable {
    public var category: String
    public var events: Int
    public var rules: [String]
    /// Distinct call sites, in order of first occurrence (at most 20).
    public var sites: [String]
}

/// What one constrained run's trace says: blocked calls by category, the first one in full, and
/// how the run ended. Computed right after the run, streaming the trace.
public struct TraceDigest: Codable, Sendable {
    /// Calls denied or killed (in audit mode: calls the profile would have blocked).
    public var blocked: Int
    /// Calls allowed and recorded (`log`, `route`).
    public var logged: Int
    public var first: BlockedEvent?
    public var categories: [CategoryHit]
    public var processes: Int?
    /// From the final `exit` line.
    public var exitStatus: Int?
    public var signal: String?
    public var error: String?
    /// Whether the trace ends with its final `exit` line.
    public var complete: Bool
    public var truncatedLastLine: Bool
    public var malformedLines: Int
    /// W^X emulation (`wx: emulate`) over every process of the run; nil under other levels.
    public var wxEmulation: WXEmulationDigest?

    enum CodingKeys: String, CodingKey {
        case blocked, logged, first, categories, processes, signal, error, complete
        case wxEmulation = "wx_emulation"
        case exitStatus = "exit_status"
        case truncatedLastLine = "truncated_last_line"
        case malformedLines = "malformed_lines"
    }
}

/// The W^X emulation counters of one run (the `wx_emulation` objects of its `exit` lines,
/// added up): what separating code generation from execution costs this test.
public struct WXEmulationDigest: Codable, Sendable, Hashable {
    public var rewritten: Int
    public var flips: Int
    public var execFaults: Int
    public var writeFaults: Int
    public var leaseWaits: Int

    enum CodingKeys: String, CodingKey {
        case rewritten, flips
        case execFaults = "exec_faults"
        case writeFaults = "write_faults"
        case leaseWaits = "lease_waits"
    }
}

/// One finished run of one test in one mode (a line of `runs.jsonl`).
public struct RunRecord: Codable, Sendable {
    public var test: String
    public var mode: RunMode
    /// 1 for the first run, 2 for the retry.
    public var attempt: Int
    public var outcome: TestOutcome
    public var exitCode: Int?
    public var signal: String?
    public var seconds: Double
    public var started: String
    public var worker: Int
    /// The argv that ran (under the profile: strictrun's).
    public var command: [String]
    /// Combined stdout and stderr, relative to the output directory.
    public var log: String?
    /// The trace (profile mode), relative to the output directory.
    public var trace: String?
    public var digest: TraceDigest?
    /// Why the outcome is `error`, or what killed it.
    public var message: String?
    /// The results directory this run was taken from (`--baseline`).
    public var reusedFrom: String?

    enum CodingKeys: String, CodingKey {
        case test, mode, attempt, outcome, signal, seconds, started, worker, command, log, trace, digest, message
        case exitCode = "exit_code"
        case reusedFrom = "reused_from"
    }
}

/// A test's runs in one mode.
public struct ModeResult: Codable, Sendable {
    /// The last run's outcome.
    public var outcome: TestOutcome
    /// The first run failed and the retry passed.
    public var flaky: Bool
    public var attempts: [RunRecord]

    /// Passed on the first run, or on the retry.
    public var passed: Bool { outcome == .pass }
}

/// Why a new failure failed: the categories of its trace's blocked calls.
public struct Attribution: Codable, Sendable {
    /// The category of the first blocked call, or `unattributed` when the trace has none.
    public var primary: String
    /// Every category blocked, in order of first occurrence, with rules and sites.
    public var categories: [CategoryHit]
    /// The first blocked call.
    public var first: BlockedEvent?

    public static let unattributed = "unattributed"
}

/// One test: both modes and the verdict.
public struct TestResult: Codable, Sendable {
    public var id: String
    public var path: String?
    public var group: String
    public var serial: Bool
    public var flags: [String]
    public var status: TestStatus
    public var native: ModeResult?
    public var profile: ModeResult?
    public var attribution: Attribution?
}

/// The suite a result set came from.
public struct SuiteInfo: Codable, Sendable, Hashable {
    public var name: String
    public var description: String
    public var file: String
    public var root: String
}

/// What a run set out to do: the first line of `runs.jsonl`, and the top of `results.json`.
public struct RunHeader: Codable, Sendable {
    public var schema: String
    public var suite: SuiteInfo
    /// The profile's name.
    public var profile: String
    /// The profile as given to `strictrun run` (a name or an absolute path).
    public var profileReference: String
    public var strictrun: String
    public var started: String
    public var jobs: Int
    public var retries: Int
    public var shard: Shard?
    /// Values of the suite's `record-env` variables in the caller's environment.
    public var environment: [String: String]
    /// Every test this run (or shard) planned.
    public var tests: [PlannedTest]

    enum CodingKeys: String, CodingKey {
        case schema, suite, profile, strictrun, started, jobs, retries, shard, environment, tests
        case profileReference = "profile_reference"
    }
}

/// Wall-clock time of each pass over the suite, same `--jobs`: the constrained pass's cost.
public struct WallTimes: Codable, Sendable {
    public var native: Double
    public var profile: Double
    public var retries: Double

    public init(native: Double = 0, profile: Double = 0, retries: Double = 0) {
        self.native = native
        self.profile = profile
        self.retries = retries
    }
}

/// A count of tests per category.
public struct CategoryCount: Codable, Sendable, Hashable {
    public var category: String
    public var tests: Int

    public init(category: String, tests: Int) {
        self.category = category
        self.tests = tests
    }
}

/// The numbers of the summary table.
public struct Totals: Codable, Sendable {
    public var tests: Int
    public var pass: Int
    public var newFailure: Int
    public var baselineFail: Int
    public var flaky: Int
    public var skipped: Int
    public var incomplete: Int
    /// Tests that passed natively (first run or retry).
    public var nativePass: Int
    /// New failures by the category of their first blocked call (`unattributed` included).
    public var newFailuresByPrimary: [CategoryCount]
    /// New failures by every category their trace blocked (a test may count in several).
    public var newFailuresByCategory: [CategoryCount]
    /// New failures that were timeouts / crashes under the profile.
    public var newFailureTimeouts: Int
    public var newFailureCrashes: Int

    enum CodingKeys: String, CodingKey {
        case tests, pass, flaky, skipped, incomplete
        case newFailure = "new_failure"
        case baselineFail = "baseline_fail"
        case nativePass = "native_pass"
        case newFailuresByPrimary = "new_failures_by_primary"
        case newFailuresByCategory = "new_failures_by_category"
        case newFailureTimeouts = "new_failure_timeouts"
        case newFailureCrashes = "new_failure_crashes"
    }

    init(tests: Int, pass: Int, newFailure: Int, baselineFail: Int, flaky: Int, skipped: Int, incomplete: Int,
         nativePass: Int, newFailuresByPrimary: [CategoryCount], newFailuresByCategory: [CategoryCount],
         newFailureTimeouts: Int, newFailureCrashes: Int) {
        self.tests = tests
        self.pass = pass
        self.newFailure = newFailure
        self.baselineFail = baselineFail
        self.flaky = flaky
        self.skipped = skipped
        self.incomplete = incomplete
        self.nativePass = nativePass
        self.newFailuresByPrimary = newFailuresByPrimary
        self.newFailuresByCategory = newFailuresByCategory
        self.newFailureTimeouts = newFailureTimeouts
        self.newFailureCrashes = newFailureCrashes
    }

    /// `skipped` may be absent (results written before it existed): 0.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(tests: try c.decode(Int.self, forKey: .tests), pass: try c.decode(Int.self, forKey: .pass),
                  newFailure: try c.decode(Int.self, forKey: .newFailure),
                  baselineFail: try c.decode(Int.self, forKey: .baselineFail), flaky: try c.decode(Int.self, forKey: .flaky),
                  skipped: try c.decodeIfPresent(Int.self, forKey: .skipped) ?? 0,
                  incomplete: try c.decode(Int.self, forKey: .incomplete),
                  nativePass: try c.decode(Int.self, forKey: .nativePass),
                  newFailuresByPrimary: try c.decode([CategoryCount].self, forKey: .newFailuresByPrimary),
                  newFailuresByCategory: try c.decode([CategoryCount].self, forKey: .newFailuresByCategory),
                  newFailureTimeouts: try c.decode(Int.self, forKey: .newFailureTimeouts),
                  newFailureCrashes: try c.decode(Int.self, forKey: .newFailureCrashes))
    }
}

/// `results.json`: every test, both outcomes, attribution, durations (see `OUTPUT.md`).
public struct ConformanceResults: Codable, Sendable {
    public var schema: String
    public var suite: SuiteInfo
    public var profile: String
    public var profileReference: String
    public var strictrun: String
    public var started: String
    public var finished: String
    /// Every planned run finished.
    public var complete: Bool
    /// Stopped by Ctrl-C or SIGTERM.
    public var interrupted: Bool
    public var jobs: Int
    public var retries: Int
    /// The shard this run was; nil when it ran the whole suite or is a merge.
    public var shard: Shard?
    /// The result directories a merge combined.
    public var mergedFrom: [String]?
    public var environment: [String: String]
    public var wallSeconds: WallTimes
    public var totals: Totals
    public var tests: [TestResult]

    enum CodingKeys: String, CodingKey {
        case schema, suite, profile, strictrun, started, finished, complete, interrupted, jobs, retries, shard
        case environment, totals, tests
        case profileReference = "profile_reference"
        case mergedFrom = "merged_from"
        case wallSeconds = "wall_seconds"
    }

    /// The test `id`, if present.
    public func test(_ id: String) -> TestResult? { tests.first { $0.id == id } }
}

/// A `JSONValue` that round-trips through `Codable` (the decoded arguments of a blocked call).
public struct JSONArgument: Codable, Sendable {
    public var value: JSONValue

    public init(_ value: JSONValue) { self.value = value }

    public init(from decoder: Decoder) throws { value = try JSONValue(from: decoder) }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        try Self.encode(value, to: encoder)
    }

    private static func encode(_ value: JSONValue, to encoder: Encoder) throws {
        switch value {
        case .object(let members):
            var container = encoder.container(keyedBy: Key.self)
            for (key, member) in members {
                try container.encode(JSONArgument(member), forKey: Key(stringValue: key))
            }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(JSONArgument(item)) }
        default:
            var container = encoder.singleValueContainer()
            switch value {
            case .null: try container.encodeNil()
            case .bool(let b): try container.encode(b)
            case .int(let i): try container.encode(i)
            case .uint(let u): try container.encode(u)
            case .double(let d): try container.encode(d)
            case .string(let s): try container.encode(s)
            default: break
            }
        }
    }
}

/// JSON coding of result files: pretty, keys in declaration order, slashes unescaped.
enum ResultsCoding {
    static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .withoutEscapingSlashes, .sortedKeys]
                                          : [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }

    static let decoder = JSONDecoder()

    /// RFC 3339 UTC with milliseconds, like the trace's `time`.
    static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
