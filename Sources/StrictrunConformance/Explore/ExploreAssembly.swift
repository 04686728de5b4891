import Foundation
import StrictrunReport
import StrictrunResults

/// Turns the finished explore runs into results: a verdict per new failure (the planner's, on
/// the runs made), the ablation per rule, the JIT section, and the porting plan.
struct ExploreAssembly {
    let explorer: Explorer
    let records: [String: ExploreRunRecord]

    func results(finished: String, interrupted: Bool, budgetExhausted: Bool, runs: Int, wall: Double) -> ExploreResults {
        let conformance = explorer.results
        var verdicts: [TestVerdict] = []
        for test in explorer.sites.keys.sorted() {
            let first = conformance.test(test)?.attribution?.first.map { "\($0.category)/\($0.rule)" }
            switch explorer.planner.step(test: test, sites: explorer.sites[test] ?? [], firstBlocked: first,
                                         done: { records[$0] }) {
            case .verdict(let verdict): verdicts.append(verdict)
            case .run: verdicts.append(TestVerdict(test: test, kind: .unexplored, firstBlocked: first))
            }
        }
        let known = explorer.knownSites { records[$0] }
        let ablation = explorer.options.ablation ? Self.ablation(ExplorePlanner.ablationRuns(sites: known), records) : []
        let jit = explorer.options.jitProfile.map { profile in
            let runs = explorer.jitRuns(profile: profile)
            return JITResult(profile: profile, tried: runs.map(\.test),
                             regained: runs.filter { records[$0.key]?.outcome == .pass }.map(\.test))
        }
        let wallTimes = conformance.wallSeconds
        let complete = !interrupted && !budgetExhausted && !verdicts.contains { $0.kind == .unexplored }
        return ExploreResults(
            conformance: explorer.directory, suite: conformance.suite.name, profile: conformance.profile,
            started: explorer.header.started, finished: finished, complete: complete, interrupted: interrupted,
            budgetExhausted: budgetExhausted, runs: runs, runsReused: explorer.journal.reused.count, wallSeconds: wall,
            conformanceWallSeconds: wallTimes.native + wallTimes.profile + wallTimes.retries,
            verdicts: verdicts, ablation: ablation, plan: Self.plan(verdicts, sites: known), jit: jit)
    }

    /// Tests regained per rule lifted, most first.
    static func ablation(_ runs: [PlannedExploreRun], _ records: [String: ExploreRunRecord]) -> [RuleAblation] {
        var byRule: [String: RuleAblation] = [:]
        for run in runs {
            guard let rule = run.rule else { continue }
            var entry = byRule[rule] ?? RuleAblation(rule: rule, tried: [], regained: [], notApplied: 0)
            if let record = records[run.key] {
                entry.tried.append(run.test)
                if record.passedWithAnswer { entry.regained.append(run.test) }
                if record.answered == 0 { entry.notApplied += 1 }
            }
            byRule[rule] = entry
        }
        return byRule.values.sorted {
            $0.regained.count != $1.regained.count ? $0.regained.count > $1.regained.count : $0.rule < $1.rule
        }
    }

    /// How demanding an answer is: an errno costs the target least, `allow` most.
    static func cost(_ answer: String) -> Int { answer == "allow" ? 2 : answer == "noop" ? 1 : 0 }

    /// Sites ranked by the tests they give back alone, each with its owner in the stack and the
    /// answer all of its tests need (the most demanding of their cheapest answers).
    static func plan(_ verdicts: [TestVerdict], sites: [String: [BlockedSite]]) -> [PlanEntry] {
        var entries: [String: PlanEntry] = [:]
        for verdict in verdicts where verdict.kind.regains {
            guard let site = verdict.site, let answer = verdict.answer else { continue }
            let blocked = sites[verdict.test]?.first { $0.site == site }
            var entry = entries[site] ?? {
                let frames = blocked?.frames ?? []
                let owner = Component.owner(of: frames)
                return PlanEntry(site: site, rule: verdict.rule ?? blocked?.rule ?? "?",
                                 syscall: verdict.syscall ?? blocked?.syscall ?? "?",
                                 component: Component.label(of: owner), function: owner.map(Component.brief) ?? "(no stack)",
                                 module: owner?.module, file: owner?.file, line: owner?.line, answer: answer, tests: [],
                                 byAnswer: [:], frames: frames)
            }()
            entry.tests.append(verdict.test)
            entry.byAnswer[answer, default: 0] += 1
            if cost(answer) > cost(entry.answer) { entry.answer = answer }
            entries[site] = entry
        }
        return entries.values.sorted {
            $0.tests.count != $1.tests.count ? $0.tests.count > $1.tests.count : $0.site < $1.site
        }
    }
}
