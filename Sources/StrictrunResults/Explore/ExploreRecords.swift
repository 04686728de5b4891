import Foundation

/// The schema name of `explore/explore.json` and of the header line of `explore/runs.jsonl`.
public let exploreSchema = "strictrun.explore/1"

/// Why an explore run was made.
public enum ExploreRunKind: String, Codable, Sendable {
    /// One candidate answer at one call site of one new failure.
    case site
    /// `allow` at every blocked site of the test at once (after no single answer helped).
    case allSites = "all-sites"
    /// One rule lifted entirely (ablation).
    case rule
    /// The test under the W^X-emulating profile (the JIT section).
    case jit
}

/// One finished explore run: a line of `explore/runs.jsonl`, appended as it ends. `key` names
/// it uniquely, so an interrupted explore knows what is done.
public struct ExploreRunRecord: Codable, Sendable, Hashable {
    /// `TEST|site:SITE=ANSWER`, `TEST|rule:RULE=allow`, `TEST|all-sites=allow`, `TEST|jit:PROFILE`.
    public var key: String
    public var test: String
    public var kind: ExploreRunKind
    public var site: String?
    /// `category/rule`.
    public var rule: String?
    /// The candidate answer (`ENOSYS`, `noop`, `allow`), or the profile for a `jit` run.
    public var answer: String
    /// The `strictrun run --answer` values the run had.
    public var arguments: [String]
    public var outcome: TestOutcome
    public var exitCode: Int?
    public var signal: String?
    public var seconds: Double
    public var started: String
    public var worker: Int
    /// Combined output and trace, relative to the conformance directory.
    public var log: String?
    public var trace: String?
    public var message: String?
    /// Calls in the run's trace whose answer was applied, and calls whose answer could not be
    /// (no site: the profile's answer was kept). A candidate that never applied proves nothing.
    public var answered: Int
    public var unavailable: Int
    /// Blocked sites this run's trace shows that the run did not answer (a later call the first
    /// blocked one had hidden): explore tries them next.
    public var revealed: [BlockedSite]?

    enum CodingKeys: String, CodingKey {
        case key, test, kind, site, rule, answer, arguments, outcome, signal, seconds, started, worker, log, trace
        case message, answered, unavailable, revealed
        case exitCode = "exit_code"
    }

    public init(key: String, test: String, kind: ExploreRunKind, site: String? = nil, rule: String? = nil,
                answer: String, arguments: [String], outcome: TestOutcome, exitCode: Int? = nil, signal: String? = nil,
                seconds: Double = 0, started: String = "", worker: Int = 0, log: String? = nil, trace: String? = nil,
                message: String? = nil, answered: Int = 0, unavailable: Int = 0) {
        self.key = key
        self.test = test
        self.kind = kind
        self.site = site
        self.rule = rule
        self.answer = answer
        self.arguments = arguments
        self.outcome = outcome
        self.exitCode = exitCode
        self.signal = signal
        self.seconds = seconds
        self.started = started
        self.worker = worker
        self.log = log
        self.trace = trace
        self.message = message
        self.answered = answered
        self.unavailable = unavailable
    }

    /// Passed, with its answer applied at least once (a `jit` run needs no answer).
    public var passedWithAnswer: Bool { outcome == .pass && (answered > 0 || kind == .jit) }
}

/// What an explore set out to do: the first line of `explore/runs.jsonl`.
public struct ExploreHeader: Codable, Sendable {
    public var schema: String
    /// The conformance directory explored (absolute).
    public var conformance: String
    public var suite: String
    public var profile: String
    public var started: String
    /// Sites tried per test, first blocked first.
    public var maxSites: Int
    /// The candidate answers, cheapest first.
    public var candidates: [String]
    /// The W^X-emulating profile of the JIT section (nil: none).
    public var jitProfile: String?
    /// The new failures explored.
    public var tests: [String]

    enum CodingKeys: String, CodingKey {
        case schema, conformance, suite, profile, started, candidates, tests
        case maxSites = "max_sites"
        case jitProfile = "jit_profile"
    }

    public init(schema: String = exploreSchema, conformance: String, suite: String, profile: String, started: String,
                maxSites: Int, candidates: [String], jitProfile: String?, tests: [String]) {
        self.schema = schema
        self.conformance = conformance
        self.suite = suite
        self.profile = profile
        self.started = started
        self.maxSites = maxSites
        self.candidates = candidates
        self.jitProfile = jitProfile
        self.tests = tests
    }
}

/// One line of `explore/runs.jsonl`: the header or one run.
public struct ExploreLine: Codable, Sendable {
    public var kind: String
    public var header: ExploreHeader?
    public var run: ExploreRunRecord?

    public init(header: ExploreHeader) {
        kind = "header"
        self.header = header
    }

    public init(run: ExploreRunRecord) {
        kind = "run"
        self.run = run
    }
}

/// A call site a new failure's trace blocked, in order of first occurrence.
public struct BlockedSite: Codable, Sendable, Hashable {
    public var site: String
    /// `category/rule` of its first blocked call.
    public var rule: String
    public var category: String
    public var syscall: String
    /// The profile's answer there (`deny(EPERM)`, `noop`, `kill`).
    public var action: String
    public var errno: String?
    /// Blocked calls at this site in the trace.
    public var count: Int
    /// Its first full stack.
    public var frames: [Frame]

    public init(site: String, rule: String, category: String, syscall: String, action: String, errno: String?,
                count: Int, frames: [Frame]) {
        self.site = site
        self.rule = rule
        self.category = category
        self.syscall = syscall
        self.action = action
        self.errno = errno
        self.count = count
        self.frames = frames
    }
}
