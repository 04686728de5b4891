import Foundation
import StrictrunTrace

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

    public init(test: String, mode: RunMode, attempt: Int, outcome: TestOutcome, exitCode: Int? = nil,
                signal: String? = nil, seconds: Double, started: String, worker: Int, command: [String],
                log: String? = nil, trace: String? = nil, digest: TraceDigest? = nil, message: String? = nil,
                reusedFrom: String? = nil) {
        self.test = test
        self.mode = mode
        self.attempt = attempt
        self.outcome = outcome
        self.exitCode = exitCode
        self.signal = signal
        self.seconds = seconds
        self.started = started
        self.worker = worker
        self.command = command
        self.log = log
        self.trace = trace
        self.digest = digest
        self.message = message
        self.reusedFrom = reusedFrom
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

    public init(outcome: TestOutcome, flaky: Bool, attempts: [RunRecord]) {
        self.outcome = outcome
        self.flaky = flaky
        self.attempts = attempts
    }
}

/// The suite a result set came from.
public struct SuiteInfo: Codable, Sendable, Hashable {
    public var name: String
    public var description: String
    public var file: String
    public var root: String
    /// SHA-256 of the suite file's bytes (nil in results written before it was recorded).
    public var sha256: String?

    public init(name: String, description: String, file: String, root: String, sha256: String? = nil) {
        self.name = name
        self.description = description
        self.file = file
        self.root = root
        self.sha256 = sha256
    }
}

/// What a run set out to do: the first line of `runs.jsonl`, and the top of `results.json`.
public struct RunHeader: Codable, Sendable {
    public var schema: String
    public var suite: SuiteInfo
    /// The profile's name.
    public var profile: String
    /// The profile as given to `strictrun run` (a name or an absolute path).
    public var profileReference: String
    /// SHA-256 over the profile's files (itself, then what it extends), nil when not recorded.
    public var profileSHA256: String?
    public var strictrun: String
    /// The runtime's version (the suite's `runtime-version` command), nil when the suite has none.
    public var runtimeVersion: String?
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
        case profileSHA256 = "profile_sha256"
        case runtimeVersion = "runtime_version"
    }

    public init(schema: String, suite: SuiteInfo, profile: String, profileReference: String,
                profileSHA256: String? = nil, strictrun: String, runtimeVersion: String? = nil,
                started: String, jobs: Int, retries: Int, shard: Shard? = nil, environment: [String: String],
                tests: [PlannedTest]) {
        self.schema = schema
        self.suite = suite
        self.profile = profile
        self.profileReference = profileReference
        self.profileSHA256 = profileSHA256
        self.strictrun = strictrun
        self.runtimeVersion = runtimeVersion
        self.started = started
        self.jobs = jobs
        self.retries = retries
        self.shard = shard
        self.environment = environment
        self.tests = tests
    }
}
