import Foundation

/// What explore concluded about one new failure.
public enum VerdictKind: String, Codable, Sendable, CaseIterable {
    /// An errno (ENOSYS) at one site is enough: the runtime falls back.
    case errnoEnough = "errno-enough"
    /// A no-op success at one site is enough.
    case noopEnough = "noop-enough"
    /// Only allowing the call at one site passes: the target (or the port) must provide it.
    case needsAllow = "needs-allow"
    /// No single site's answer helps; allowing every blocked site at once does.
    case severalSites = "several-sites"
    /// Nothing at its blocked sites helps: another constraint (or something else) breaks it.
    case nothingHelps = "nothing-helps"
    /// Its trace blocked nothing with a call site (stacks off, or no blocked call).
    case noSite = "no-site"
    /// Not finished (the time budget ran out, or the explore was interrupted).
    case unexplored

    /// The sentence a summary gives.
    public var sentence: String {
        switch self {
        case .errnoEnough: "errno is enough: the runtime falls back"
        case .noopEnough: "a no-op is enough"
        case .needsAllow: "needs the call: only allowing it passes"
        case .severalSites: "needs several sites at once: no single site's answer helps"
        case .nothingHelps: "nothing at its blocked sites helps: another site or constraint also blocks"
        case .noSite: "no blocked call with a call site to answer"
        case .unexplored: "not explored (budget or interrupt)"
        }
    }

    /// Whether the verdict names a site that gives the test back.
    public var regains: Bool { self == .errnoEnough || self == .noopEnough || self == .needsAllow }
}

/// One candidate tried for a test, in order.
public struct Attempt: Codable, Sendable, Hashable {
    public var site: String?
    public var answer: String
    public var outcome: TestOutcome
    /// Whether the answer was applied in that run at all.
    public var applied: Bool

    public init(site: String?, answer: String, outcome: TestOutcome, applied: Bool) {
        self.site = site
        self.answer = answer
        self.outcome = outcome
        self.applied = applied
    }
}

/// Explore's verdict on one new failure, with the run that proves it.
public struct TestVerdict: Codable, Sendable {
    public var test: String
    public var kind: VerdictKind
    /// The site whose answer gives the test back (or, for `nothing-helps`, the first site).
    public var site: String?
    /// `category/rule` and syscall of that site.
    public var rule: String?
    public var syscall: String?
    /// The cheapest answer that passes there (`ENOSYS`, `noop`, `allow`).
    public var answer: String?
    /// The evidence run's key, log and trace (relative to the conformance directory).
    public var evidence: String?
    public var evidenceLog: String?
    public var evidenceTrace: String?
    /// `category/rule` of the first blocked call (conformance's own attribution).
    public var firstBlocked: String?
    public var tried: [Attempt]
    /// `several-sites`: the sites allowed together.
    public var sites: [String]?

    enum CodingKeys: String, CodingKey {
        case test, kind, site, rule, syscall, answer, evidence, tried, sites
        case evidenceLog = "evidence_log"
        case evidenceTrace = "evidence_trace"
        case firstBlocked = "first_blocked"
    }

    public init(test: String, kind: VerdictKind, site: String? = nil, rule: String? = nil, syscall: String? = nil,
                answer: String? = nil, evidence: String? = nil, evidenceLog: String? = nil,
                evidenceTrace: String? = nil, firstBlocked: String? = nil, tried: [Attempt] = []) {
        self.test = test
        self.kind = kind
        self.site = site
        self.rule = rule
        self.syscall = syscall
        self.answer = answer
        self.evidence = evidence
        self.evidenceLog = evidenceLog
        self.evidenceTrace = evidenceTrace
        self.firstBlocked = firstBlocked
        self.tried = tried
    }

    /// The category the verdict attributes the failure to (nil: none).
    public var category: String? { rule.flatMap { $0.split(separator: "/").first.map(String.init) } }

    /// `errno is enough: the runtime falls back (ENOSYS at 3f2a… process/fork)`.
    public var text: String {
        var out = kind.sentence
        if let site, kind.regains || kind == .nothingHelps {
            out += " (" + [answer, site, rule].compactMap { $0 }.joined(separator: " at ") + ")"
            if kind == .nothingHelps { out = kind.sentence + " (first site \(site) \(rule ?? ""))" }
        }
        return out
    }
}

/// Tests regained if the target lifted one rule entirely (only new failures that blocked it re-run).
public struct RuleAblation: Codable, Sendable {
    /// `category/rule`.
    public var rule: String
    public var tried: [String]
    public var regained: [String]
    /// Runs where the lifted rule never applied (a rule the kernel's view decides, not a stop).
    public var notApplied: Int

    enum CodingKeys: String, CodingKey {
        case rule, tried, regained
        case notApplied = "not_applied"
    }

    public init(rule: String, tried: [String], regained: [String], notApplied: Int) {
        self.rule = rule
        self.tried = tried
        self.regained = regained
        self.notApplied = notApplied
    }
}

/// One line of the porting plan: a site, what it should answer, and the tests that gives back.
public struct PlanEntry: Codable, Sendable {
    public var site: String
    public var rule: String
    public var syscall: String
    /// `uv_`, `v8::`, `node::`, `libc`…, with the module: `node · uv_`.
    public var component: String
    /// The owning function (first frame outside libc) and its source position when known.
    public var function: String
    public var module: String?
    public var file: String?
    public var line: Int?
    /// The answer the site needs for all of its tests (the most demanding one).
    public var answer: String
    public var tests: [String]
    /// Tests per cheapest answer (`ENOSYS: 2, allow: 1`).
    public var byAnswer: [String: Int]
    /// The site's first stack (for SARIF's code flow).
    public var frames: [Frame]

    enum CodingKeys: String, CodingKey {
        case site, rule, syscall, component, function, module, file, line, answer, tests, frames
        case byAnswer = "by_answer"
    }

    public init(site: String, rule: String, syscall: String, component: String, function: String, module: String?,
                file: String?, line: Int?, answer: String, tests: [String], byAnswer: [String: Int], frames: [Frame]) {
        self.site = site
        self.rule = rule
        self.syscall = syscall
        self.component = component
        self.function = function
        self.module = module
        self.file = file
        self.line = line
        self.answer = answer
        self.tests = tests
        self.byAnswer = byAnswer
        self.frames = frames
    }
}

/// Tests that crash under the profile and pass under its W^X-emulating variant.
public struct JITResult: Codable, Sendable {
    public var profile: String
    public var tried: [String]
    public var regained: [String]

    public init(profile: String, tried: [String], regained: [String]) {
        self.profile = profile
        self.tried = tried
        self.regained = regained
    }

    /// `W^X emulation gives back N tests: the JIT rework must carry them`.
    public var sentence: String {
        "W^X emulation (\(profile)) gives back \(regained.count) test\(regained.count == 1 ? "" : "s")"
            + (regained.isEmpty ? "" : ": the JIT rework must carry them")
    }
}

/// `explore/explore.json`: every verdict, the ablation, the plan (see OUTPUT.md).
public struct ExploreResults: Codable, Sendable {
    public var schema: String
    public var conformance: String
    public var suite: String
    public var profile: String
    public var started: String
    public var finished: String
    /// Every planned run finished (no budget stop, no interrupt).
    public var complete: Bool
    public var interrupted: Bool
    public var budgetExhausted: Bool
    /// Runs made by this invocation and in all (a resumed explore reuses the journal's).
    public var runs: Int
    public var runsReused: Int
    public var wallSeconds: Double
    /// The conformance run's own wall time (native + profile + retries), for the ratio.
    public var conformanceWallSeconds: Double
    public var verdicts: [TestVerdict]
    public var ablation: [RuleAblation]
    public var plan: [PlanEntry]
    public var jit: JITResult?

    enum CodingKeys: String, CodingKey {
        case schema, conformance, suite, profile, started, finished, complete, interrupted, runs, verdicts, ablation
        case plan, jit
        case budgetExhausted = "budget_exhausted"
        case runsReused = "runs_reused"
        case wallSeconds = "wall_seconds"
        case conformanceWallSeconds = "conformance_wall_seconds"
    }

    public init(schema: String = exploreSchema, conformance: String, suite: String, profile: String, started: String,
                finished: String, complete: Bool, interrupted: Bool, budgetExhausted: Bool, runs: Int, runsReused: Int,
                wallSeconds: Double, conformanceWallSeconds: Double, verdicts: [TestVerdict], ablation: [RuleAblation],
                plan: [PlanEntry], jit: JITResult?) {
        self.schema = schema
        self.conformance = conformance
        self.suite = suite
        self.profile = profile
        self.started = started
        self.finished = finished
        self.complete = complete
        self.interrupted = interrupted
        self.budgetExhausted = budgetExhausted
        self.runs = runs
        self.runsReused = runsReused
        self.wallSeconds = wallSeconds
        self.conformanceWallSeconds = conformanceWallSeconds
        self.verdicts = verdicts
        self.ablation = ablation
        self.plan = plan
        self.jit = jit
    }

    /// The verdicts' counts by kind, in the enum's order.
    public var countsByKind: [(VerdictKind, Int)] {
        VerdictKind.allCases.compactMap { kind in
            let n = verdicts.filter { $0.kind == kind }.count
            return n > 0 ? (kind, n) : nil
        }
    }

    public static let directory = "explore"
    public static let file = "explore.json"
    public static let runsFile = "runs.jsonl"
    public static let sarifFile = "plan.sarif"

    /// `DIR/explore/explore.json` when an explore finished there (nil: none, or unreadable).
    public static func load(conformanceDirectory: String) -> ExploreResults? {
        let path = conformanceDirectory + "/" + directory + "/" + file
        guard let data = FileManager.default.contents(atPath: path),
              let results = try? ResultsCoding.decoder.decode(ExploreResults.self, from: data),
              results.schema == exploreSchema else { return nil }
        return results
    }
}
