import StrictrunResults
import Testing

/// The planner alone: which run comes next, and the verdict a set of finished runs gives.
@Suite("explore planner")
struct ExplorePlannerTests {
    static func site(_ id: String, _ syscall: String, rule: String = "process/fork", errno: String? = "EPERM") -> BlockedSite {
        BlockedSite(site: id, rule: rule, category: String(rule.split(separator: "/")[0]), syscall: syscall,
                    action: errno.map { "deny(\($0))" } ?? "kill", errno: errno, count: 1, frames: [])
    }

    static func record(_ key: String, _ outcome: TestOutcome, answered: Int = 1) -> ExploreRunRecord {
        ExploreRunRecord(key: key, test: "t", kind: .site, answer: "", arguments: [], outcome: outcome, answered: answered)
    }

    /// Runs the planner to its verdict, answering each run with `outcome(key)`; returns the keys in order.
    static func drive(_ sites: [BlockedSite], maxSites: Int = 5,
                      outcome: (String) -> (TestOutcome, Int)) -> (TestVerdict, [String]) {
        let planner = ExplorePlanner(maxSites: maxSites)
        var done: [String: ExploreRunRecord] = [:]
        var keys: [String] = []
        while true {
            switch planner.step(test: "t", sites: sites, firstBlocked: "process/fork", done: { done[$0] }) {
            case .run(let run):
                keys.append(run.key)
                let (result, answered) = outcome(run.key)
                done[run.key] = record(run.key, result, answered: answered)
            case .verdict(let verdict):
                return (verdict, keys)
            }
        }
    }

    @Test("cheapest first, first site first; stops at the first answer that passes")
    func order() {
        let sites = [Self.site("aaaaaaaaaaaaaaaa", "chmod", rule: "fs/chmod"), Self.site("bbbbbbbbbbbbbbbb", "clone")]
        let (verdict, keys) = Self.drive(sites) { key in
            (key == "t|site:aaaaaaaaaaaaaaaa=noop" ? .pass : .fail, 1)
        }
        #expect(keys == ["t|site:aaaaaaaaaaaaaaaa=ENOSYS", "t|site:aaaaaaaaaaaaaaaa=noop"])
        #expect(verdict.kind == .noopEnough && verdict.site == "aaaaaaaaaaaaaaaa" && verdict.answer == "noop")
        #expect(verdict.rule == "fs/chmod" && verdict.evidence == "t|site:aaaaaaaaaaaaaaaa=noop")
        #expect(verdict.tried.map(\.answer) == ["ENOSYS", "noop"])
    }

    @Test("no noop for process creation, no candidate equal to the profile's own answer")
    func candidates() {
        let planner = ExplorePlanner()
        #expect(planner.candidates(at: Self.site("aaaaaaaaaaaaaaaa", "clone")) == ["ENOSYS", "allow"])
        #expect(planner.candidates(at: Self.site("aaaaaaaaaaaaaaaa", "execve", rule: "process/exec")) == ["ENOSYS", "allow"])
        #expect(planner.candidates(at: Self.site("aaaaaaaaaaaaaaaa", "io_uring_setup", rule: "escape/io-uring", errno: "ENOSYS"))
                == ["noop", "allow"])
        #expect(planner.candidates(at: Self.site("aaaaaaaaaaaaaaaa", "chmod", rule: "fs/chmod")) == ["ENOSYS", "noop", "allow"])
    }

    @Test("each verdict: errno, needs allow, several sites, nothing helps, no site")
    func verdicts() {
        let one = [Self.site("aaaaaaaaaaaaaaaa", "copy_file_range", rule: "fs/copy-file-range")]
        #expect(Self.drive(one) { _ in (.pass, 1) }.0.kind == .errnoEnough)
        let fork = [Self.site("bbbbbbbbbbbbbbbb", "clone")]
        let (allow, allowKeys) = Self.drive(fork) { ($0.hasSuffix("=allow") ? .pass : .fail, 1) }
        #expect(allow.kind == .needsAllow && allowKeys.count == 2)
        let two = [Self.site("aaaaaaaaaaaaaaaa", "chmod", rule: "fs/chmod"), Self.site("bbbbbbbbbbbbbbbb", "clone")]
        let (several, severalKeys) = Self.drive(two) { ($0 == "t|all-sites=allow" ? .pass : .fail, 1) }
        #expect(several.kind == .severalSites && several.answer == "allow")
        #expect(severalKeys.last == "t|all-sites=allow" && severalKeys.count == 6)
        let (nothing, _) = Self.drive(two) { _ in (.crash, 1) }
        #expect(nothing.kind == .nothingHelps && nothing.site == "aaaaaaaaaaaaaaaa")
        #expect(Self.drive([]) { _ in (.pass, 1) }.0.kind == .noSite)
        // A pass in which the answer never applied proves nothing (the test is flaky or the site
        // was not reached): the next candidate is tried.
        let (unapplied, keys) = Self.drive(fork) { key in key.hasSuffix("ENOSYS") ? (.pass, 0) : (.pass, 1) }
        #expect(unapplied.kind == .needsAllow && keys.count == 2)
        // max-sites bounds the sites tried.
        let (bounded, boundedKeys) = Self.drive(two, maxSites: 1) { _ in (.fail, 1) }
        #expect(bounded.kind == .nothingHelps && boundedKeys.count == 3)
    }

    @Test("ablation: one run per rule a test blocked, in a stable order")
    func ablation() {
        let runs = ExplorePlanner.ablationRuns(sites: [
            "b": [Self.site("1111111111111111", "clone"), Self.site("2222222222222222", "clone")],
            "a": [Self.site("3333333333333333", "chmod", rule: "fs/chmod"), Self.site("1111111111111111", "clone")],
        ])
        #expect(runs.map(\.key) == ["a|rule:fs/chmod=allow", "a|rule:process/fork=allow", "b|rule:process/fork=allow"])
        #expect(runs[0].arguments == ["rule=fs/chmod=allow"])
    }
}

extension ExplorePlannerTests {
    @Test("a site a failed run revealed is tried after the known ones, then all of them together")
    func revealed() {
        let chmod = Self.site("aaaaaaaaaaaaaaaa", "chmod", rule: "fs/chmod")
        let fork = Self.site("bbbbbbbbbbbbbbbb", "clone")
        let planner = ExplorePlanner()
        var done: [String: ExploreRunRecord] = [:]
        var keys: [String] = []
        var verdict: TestVerdict?
        while verdict == nil {
            switch planner.step(test: "t", sites: [chmod], firstBlocked: nil, done: { done[$0] }) {
            case .run(let run):
                keys.append(run.key)
                var record = Self.record(run.key, run.key == "t|all-sites=allow" ? .pass : .fail)
                if run.key == "t|site:aaaaaaaaaaaaaaaa=noop" { record.revealed = [fork, chmod] }
                done[run.key] = record
            case .verdict(let value):
                verdict = value
            }
        }
        #expect(keys == ["t|site:aaaaaaaaaaaaaaaa=ENOSYS", "t|site:aaaaaaaaaaaaaaaa=noop", "t|site:aaaaaaaaaaaaaaaa=allow",
                         "t|site:bbbbbbbbbbbbbbbb=ENOSYS", "t|site:bbbbbbbbbbbbbbbb=allow", "t|all-sites=allow"])
        #expect(verdict?.kind == .severalSites && verdict?.sites == ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"])
        #expect(planner.sites(test: "t", known: [chmod], done: { done[$0] }).map(\.site) == ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"])
    }
}
