import ArgumentParser
import Foundation
import StrictrunConformance
import StrictrunReport
import StrictrunResults
import Synchronization

/// `strictrun conformance explore DIR` (issue 16): what answer would make each new failure pass.
struct ExploreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explore",
        abstract: "Re-run a conformance run's new failures under other answers per call site; rank the sites to port.",
        discussion: """
            Each new failure is re-run with the calls blocked at one call site of its trace answered \
            ENOSYS, then noop (never for fork/exec), then allow, first blocked site first, stopping at \
            the first answer that passes; then each blocked rule is lifted entirely (ablation). Runs are \
            appended to DIR/explore/runs.jsonl as they end: an interrupted explore, run again, resumes. \
            Writes DIR/explore/{explore.json,summary.md,plan.sarif} and rewrites DIR's results.json, \
            junit.xml and summary.md with explore's verdicts as the attribution. Exit status: 0 when \
            done, 2 for bad input, 130 when interrupted (what finished is written).
            """)

    @Argument(help: "A finished 'strictrun conformance run' output directory.") var directory: String
    @Option(name: .shortAndLong, help: "Runs at once (default: the number of cores).") var jobs: Int?
    @Option(help: "Seconds after which no new run starts (the results say what was left).") var budget: Double?
    @Option(help: "Blocked call sites tried per test, first blocked first.") var maxSites = 5
    @Flag(help: "Do not lift each rule entirely (the ablation table).") var noAblation = false
    @Option(help: ArgumentHelp("A W^X-emulating profile under which to re-run new failures that crashed with W^X blocked "
                               + "(default: microkernel-jit when the run's profile does not emulate W^X; 'none' for no JIT section)."))
    var jitProfile: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("A suite variable, as the conformance run had it (repeatable).",
                                                          valueName: "name=value"))
    var variables: [String] = []
    @Flag(name: .shortAndLong, help: "No progress on stderr.") var quiet = false

    func run() throws {
        let slot = ExplorerSlot()
        let progress = ProgressReporter.automatic(quiet: quiet, verbose: false)
        SignalWatch.start { signal in
            guard let explorer = slot.explorer else { Foundation.exit(130) }
            if slot.interrupts.increment() == 1 {
                progress.note("stopping (signal \(signal)): killing running runs, writing what finished; again to stop at once")
                explorer.stop()
            } else {
                explorer.stop(force: true)
            }
        }
        if let jobs, jobs < 1 { Environment.fail("--jobs must be at least 1", status: 2) }
        if let budget, budget <= 0 { Environment.fail("--budget must be positive", status: 2) }
        guard maxSites >= 1 else { Environment.fail("--max-sites must be at least 1", status: 2) }
        var overrides: [String: String] = [:]
        for item in variables {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                Environment.fail("--set \(item): expected NAME=VALUE", status: 2)
            }
            overrides[String(item[..<equals])] = String(item[item.index(after: equals)...])
        }
        let path = URL(fileURLWithPath: directory).standardizedFileURL.path
        let options = ExploreOptions(
            jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount, budget: budget, maxSites: maxSites,
            ablation: !noAblation, jitProfile: Self.jitProfile(jitProfile, directory: path),
            strictrunExecutable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
            environment: ProcessInfo.processInfo.environment, overrides: overrides)
        let explorer: Explorer
        do {
            explorer = try Explorer(directory: path, options: options, progress: progress)
        } catch {
            Environment.fail("\(error)", status: 2)
        }
        slot.explorer = explorer
        let failures = explorer.results.tests.filter { $0.status == .newFailure }.count
        progress.note("explore: \(failures) new failure\(failures == 1 ? "" : "s") of \(explorer.results.suite.name) under "
                      + "\(explorer.results.profile), \(options.jobs) at a time"
                      + (explorer.reusedRuns == 0 ? "" : "; resuming: \(explorer.reusedRuns) runs already in the journal"))
        let results: ExploreResults
        do {
            results = try explorer.run()
        } catch {
            Environment.fail("\(error)", status: 2)
        }
        Self.printPlan(results, directory: path)
        if results.interrupted { throw ExitCode(130) }
    }

    /// `--jit-profile`: as given ('none': none); by default microkernel-jit when the run's profile
    /// does not emulate W^X itself.
    static func jitProfile(_ option: String?, directory: String) -> String? {
        if option == "none" { return nil }
        if let option { return option }
        guard let results = try? ResultsDirectory.load(directory),
              let profile = try? Environment.loader().load(results.profileReference) else { return nil }
        return profile.wx.level == .emulate || profile.wx.level == .off ? nil : "microkernel-jit"
    }

    /// The verdict counts, the plan's top sites, the ablation and where the files are, on stdout.
    static func printPlan(_ results: ExploreResults, directory: String) {
        var lines = [ExploreRenderer.headline(results), "  cost: " + ExploreRenderer.cost(results)]
        if !results.plan.isEmpty { lines.append("porting plan (sites by tests regained):") }
        for (rank, entry) in results.plan.prefix(10).enumerated() {
            let position = entry.file.map { " \($0)\(entry.line.map { ":\($0)" } ?? "")" } ?? ""
            lines.append("  \(rank + 1). +\(entry.tests.count) \(entry.answer) at \(entry.site) \(entry.function) "
                         + "[\(entry.component)]\(position) — \(entry.rule) \(entry.syscall)")
        }
        if !results.ablation.isEmpty { lines.append("if the target lifted a rule entirely:") }
        for rule in results.ablation { lines.append("  \(rule.rule): +\(rule.regained.count) of \(rule.tried.count)") }
        if let jit = results.jit, !jit.tried.isEmpty { lines.append(jit.sentence) }
        let base = directory + "/" + ExploreResults.directory
        lines.append("explore: \(base)/\(ExploreResults.file)  sarif: \(base)/\(ExploreResults.sarifFile)  "
                     + "summary: \(directory)/summary.md (attribution updated)")
        Swift.print(lines.joined(separator: "\n"))
    }
}

/// The explorer, once there is one, for the signal thread.
final class ExplorerSlot: Sendable {
    private let value = Mutex<Explorer?>(nil)
    let interrupts = SignalCount()
    var explorer: Explorer? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
