import StrictrunResults

/// How to run a suite: which profile (through which `strictrun` executable), how many tests at
/// once, where results go, and what to reuse.
public struct RunOptions: Sendable {
    /// The profile's name, for results and messages.
    public var profileName: String
    /// The profile as `strictrun run --profile` takes it (a name, or an absolute path).
    public var profileReference: String
    /// The `strictrun` executable that runs each constrained test (`/proc/self/exe`).
    public var strictrunExecutable: String
    public var strictrunVersion: String
    /// SHA-256 over the profile's files (`ContentHash.sha256(files: profile.sources)`).
    public var profileSHA256: String?
    /// Continue the run in `output` from its `runs.jsonl` (start afresh when it has none).
    public var resume: Bool
    /// Extra options for `strictrun run` (e.g. `--no-stacks`, `--js-frames`).
    public var runArguments: [String]
    public var jobs: Int
    /// The output directory, absolute.
    public var output: String
    public var shard: Shard?
    /// Native results to reuse (`--baseline DIR`), and where they came from.
    public var baseline: ConformanceResults?
    public var baselinePath: String?
    /// Replaces every test's timeout.
    public var timeout: Double?
    /// Replaces the suite's `retries`.
    public var retries: Int?
    /// The caller's environment: it passes through to every test, in both modes.
    public var environment: [String: String]

    public init(profileName: String, profileReference: String, strictrunExecutable: String, strictrunVersion: String,
                runArguments: [String] = [], jobs: Int, output: String, shard: Shard? = nil,
                baseline: ConformanceResults? = nil, baselinePath: String? = nil, timeout: Double? = nil,
                retries: Int? = nil, environment: [String: String], profileSHA256: String? = nil, resume: Bool = false) {
        self.profileName = profileName
        self.profileReference = profileReference
        self.strictrunExecutable = strictrunExecutable
        self.strictrunVersion = strictrunVersion
        self.profileSHA256 = profileSHA256
        self.resume = resume
        self.runArguments = runArguments
        self.jobs = jobs
        self.output = output
        self.shard = shard
        self.baseline = baseline
        self.baselinePath = baselinePath
        self.timeout = timeout
        self.retries = retries
        self.environment = environment
    }
}
