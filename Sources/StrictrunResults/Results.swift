import Foundation
import StrictrunTrace

/// The schema name in `results.json` and in the header line of `runs.jsonl`.
public let conformanceSchema = "strictrun.conformance/1"
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

/// Why a new failure failed: the categories of its trace's blocked calls.
public struct Attribution: Codable, Sendable {
    /// The category of the first blocked call, or `unattributed` when the trace has none.
    public var primary: String
    /// Every category blocked, in order of first occurrence, with rules and sites.
    public var categories: [CategoryHit]
    /// The first blocked call.
    public var first: BlockedEvent?
    /// `conformance explore`'s verdict: where one names a site, `primary` is its rule's category.
    public var explored: ExploredAttribution?
    /// The category of the first blocked call, kept here once explore's verdict replaced `primary`.
    public var firstBlocked: String?

    enum CodingKeys: String, CodingKey {
        case primary, categories, first, explored
        case firstBlocked = "first_blocked"
    }

    public static let unattributed = "unattributed"

    public init(primary: String, categories: [CategoryHit], first: BlockedEvent? = nil) {
        self.primary = primary
        self.categories = categories
        self.first = first
    }
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

    public init(id: String, path: String? = nil, group: String, serial: Bool, flags: [String], status: TestStatus,
                native: ModeResult? = nil, profile: ModeResult? = nil, attribution: Attribution? = nil) {
        self.id = id
        self.path = path
        self.group = group
        self.serial = serial
        self.flags = flags
        self.status = status
        self.native = native
        self.profile = profile
        self.attribution = attribution
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

    public init(tests: Int, pass: Int, newFailure: Int, baselineFail: Int, flaky: Int, skipped: Int, incomplete: Int,
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
    /// SHA-256 over the profile's files (see `RunHeader.profileSHA256`).
    public var profileSHA256: String?
    public var strictrun: String
    /// The runtime's version (the suite's `runtime-version`), when the suite names one.
    public var runtimeVersion: String?
    public var started: String
    public var finished: String
    /// Every planned run finished (and, for a merge, every input was there and matched).
    public var complete: Bool
    /// Stopped by Ctrl-C or SIGTERM.
    public var interrupted: Bool
    public var jobs: Int
    public var retries: Int
    /// The shard this run was; nil when it ran the whole suite or is a merge.
    public var shard: Shard?
    /// The result directories a merge combined.
    public var mergedFrom: [String]?
    /// What a merge with `--allow-partial` found wrong (missing shards or tests, duplicates,
    /// mismatched inputs); nil when nothing was.
    public var mergeProblems: [String]?
    /// Tests of the sharded selection that no merged input holds (`--allow-partial`).
    public var missingTests: [String]?
    /// When the run was picked up again with `--resume`, once per resume.
    public var resumed: [String]?
    public var environment: [String: String]
    public var wallSeconds: WallTimes
    public var totals: Totals
    /// What the TLS adaptation must carry: the TLS of every test's first constrained run, by
    /// test and by call site; nil when no test did anything TLS.
    public var tlsAdaptation: TLSAdaptation?
    public var tests: [TestResult]

    enum CodingKeys: String, CodingKey {
        case schema, suite, profile, strictrun, started, finished, complete, interrupted, jobs, retries, shard
        case environment, totals, tests
        case tlsAdaptation = "tls_adaptation"
        case profileReference = "profile_reference"
        case profileSHA256 = "profile_sha256"
        case runtimeVersion = "runtime_version"
        case mergedFrom = "merged_from"
        case mergeProblems = "merge_problems"
        case missingTests = "missing_tests"
        case resumed
        case wallSeconds = "wall_seconds"
    }

    /// The test `id`, if present.
    public func test(_ id: String) -> TestResult? { tests.first { $0.id == id } }

    public init(schema: String, suite: SuiteInfo, profile: String, profileReference: String,
                profileSHA256: String? = nil, strictrun: String, runtimeVersion: String? = nil,
                started: String, finished: String, complete: Bool, interrupted: Bool, jobs: Int, retries: Int,
                shard: Shard? = nil, mergedFrom: [String]? = nil, environment: [String: String],
                wallSeconds: WallTimes, totals: Totals, tests: [TestResult]) {
        self.schema = schema
        self.suite = suite
        self.profile = profile
        self.profileReference = profileReference
        self.profileSHA256 = profileSHA256
        self.strictrun = strictrun
        self.runtimeVersion = runtimeVersion
        self.started = started
        self.finished = finished
        self.complete = complete
        self.interrupted = interrupted
        self.jobs = jobs
        self.retries = retries
        self.shard = shard
        self.mergedFrom = mergedFrom
        self.environment = environment
        self.wallSeconds = wallSeconds
        self.totals = totals
        self.tests = tests
    }
}

/// JSON coding of result files: pretty, keys in declaration order, slashes unescaped.
public enum ResultsCoding {
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .withoutEscapingSlashes, .sortedKeys]
                                          : [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }

    public static let decoder = JSONDecoder()

    /// RFC 3339 UTC with milliseconds, like the trace's `time`.
    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
