import Foundation
import StrictrunTrace

/// One run explore must make: which test, under which answers.
public struct PlannedExploreRun: Sendable, Hashable {
    public var key: String
    public var test: String
    public var kind: ExploreRunKind
    public var site: String?
    public var rule: String?
    public var answer: String
    /// `strictrun run --answer` values.
    public var arguments: [String]
    /// Another profile for the run (the JIT section's); nil: the conformance run's.
    public var profile: String?

    public init(key: String, test: String, kind: ExploreRunKind, site: String? = nil, rule: String? = nil,
                answer: String, arguments: [String], profile: String? = nil) {
        self.key = key
        self.test = test
        self.kind = kind
        self.site = site
        self.rule = rule
        self.answer = answer
        self.arguments = arguments
        self.profile = profile
    }
}

/// The order explore tries answers in, and the verdict the runs so far give. Pure: the same
/// sites and the same finished runs give the same next step, so an interrupted explore that
/// reads its journal back goes on exactly where it stopped and ends with the same verdicts.
///
/// Per new failure: its blocked sites in order of first occurrence (at most `maxSites`); at
/// each, the candidates cheapest first (`ENOSYS`, `noop`, `allow`); the first that passes is the
/// verdict. When none passes at any site and there were several, one run allows them all.
public struct ExplorePlanner: Sendable {
    public var maxSites: Int
    /// Cheapest first.
    public var candidates: [String]

    /// Calls whose no-op would run the child's code path in the parent (a fork that "returns 0"
    /// is the child; an exec that "succeeds" goes on in the old image): never a candidate.
    public static let noNoop: Set<String> = ["fork", "vfork", "clone", "clone3", "execve", "execveat"]
    public static let defaultCandidates = ["ENOSYS", "noop", "allow"]

    public init(maxSites: Int = 5, candidates: [String] = defaultCandidates) {
        self.maxSites = maxSites
        self.candidates = candidates
    }

    /// What explore does next for one test.
    public enum Step: Sendable {
        case run(PlannedExploreRun)
        case verdict(TestVerdict)
    }

    /// The candidates at one site: the profile's own answer left out (ENOSYS where the profile
    /// already answers ENOSYS), and no `noop` for process creation.
    public func candidates(at site: BlockedSite) -> [String] {
        candidates.filter { answer in
            if answer == "noop" && (Self.noNoop.contains(site.syscall) || site.action == "noop") { return false }
            if answer == site.errno && site.action.hasPrefix("deny") { return false }
            return true
        }
    }

    public static func siteKey(test: String, site: String, answer: String) -> String { "\(test)|site:\(site)=\(answer)" }
    public static func allSitesKey(test: String) -> String { "\(test)|all-sites=allow" }
    public static func ruleKey(test: String, rule: String) -> String { "\(test)|rule:\(rule)=allow" }
    public static func jitKey(test: String, profile: String) -> String { "\(test)|jit:\(profile)" }

    /// The next run for `test`, or its verdict once the runs in `done` decide it. A failed
    /// run's trace may show sites the first blocked call had hidden (`revealed`): they are tried
    /// after the known ones, in the order the runs found them (the same order on every resume).
    public func step(test: String, sites known: [BlockedSite], firstBlocked: String?,
                     done: (String) -> ExploreRunRecord?) -> Step {
        guard !known.isEmpty else { return .verdict(TestVerdict(test: test, kind: .noSite, firstBlocked: firstBlocked)) }
        var sites = known
        var tried: [Attempt] = []
        var index = 0
        while index < sites.count && index < maxSites {
            let site = sites[index]
            for answer in candidates(at: site) {
                let key = Self.siteKey(test: test, site: site.site, answer: answer)
                guard let record = done(key) else {
                    return .run(PlannedExploreRun(key: key, test: test, kind: .site, site: site.site, rule: site.rule,
                                                  answer: answer, arguments: ["\(site.site)=\(answer)"]))
                }
                tried.append(Attempt(site: site.site, answer: answer, outcome: record.outcome, applied: record.answered > 0))
                if record.passedWithAnswer {
                    let kind: VerdictKind = answer == "allow" ? .needsAllow : answer == "noop" ? .noopEnough : .errnoEnough
                    return .verdict(TestVerdict(test: test, kind: kind, site: site.site, rule: site.rule, syscall: site.syscall,
                                                answer: answer, evidence: key, evidenceLog: record.log,
                                                evidenceTrace: record.trace, firstBlocked: firstBlocked, tried: tried))
                }
                for found in record.revealed ?? [] where !sites.contains(where: { $0.site == found.site }) {
                    sites.append(found)
                }
            }
            index += 1
        }
        let first = sites[0]
        var verdict = TestVerdict(test: test, kind: .nothingHelps, site: first.site, rule: first.rule,
                                  syscall: first.syscall, firstBlocked: firstBlocked, tried: tried)
        let all = Array(sites.prefix(maxSites))
        if all.count > 1 {
            let key = Self.allSitesKey(test: test)
            guard let record = done(key) else {
                return .run(PlannedExploreRun(key: key, test: test, kind: .allSites, answer: "allow",
                                              arguments: all.map { "\($0.site)=allow" }))
            }
            verdict.tried.append(Attempt(site: nil, answer: "allow", outcome: record.outcome, applied: record.answered > 0))
            if record.passedWithAnswer {
                verdict.kind = .severalSites
                verdict.answer = "allow"
                verdict.sites = all.map(\.site)
                verdict.evidence = key
                verdict.evidenceLog = record.log
                verdict.evidenceTrace = record.trace
            }
        }
        return .verdict(verdict)
    }

    /// Every site known for a test once its runs are done: its trace's, then those its runs revealed.
    public func sites(test: String, known: [BlockedSite], done: (String) -> ExploreRunRecord?) -> [BlockedSite] {
        var sites = known
        var index = 0
        while index < sites.count && index < maxSites {
            for answer in candidates(at: sites[index]) {
                guard let record = done(Self.siteKey(test: test, site: sites[index].site, answer: answer)) else { continue }
                for found in record.revealed ?? [] where !sites.contains(where: { $0.site == found.site }) { sites.append(found) }
            }
            index += 1
        }
        return sites
    }

    /// Ablation: one run per (rule, test) that blocked it.
    public static func ablationRuns(sites: [String: [BlockedSite]]) -> [PlannedExploreRun] {
        var runs: [PlannedExploreRun] = []
        for test in sites.keys.sorted() {
            var rules: [String] = []
            for site in sites[test]! where !rules.contains(site.rule) { rules.append(site.rule) }
            for rule in rules {
                runs.append(PlannedExploreRun(key: ruleKey(test: test, rule: rule), test: test, kind: .rule, rule: rule,
                                              answer: "allow", arguments: ["rule=\(rule)=allow"]))
            }
        }
        return runs
    }
}
