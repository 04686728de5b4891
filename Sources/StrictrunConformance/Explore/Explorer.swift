#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import StrictrunResults

/// How to explore a finished conformance run.
public struct ExploreOptions: Sendable {
    /// Runs at once (serial tests still run one at a time).
    public var jobs: Int
    /// Seconds after which no new run starts (nil: no limit).
    public var budget: Double?
    /// Blocked sites tried per test, first blocked first.
    public var maxSites: Int
    /// Lift each rule entirely for the new failures that blocked it.
    public var ablation: Bool
    /// A W^X-emulating profile to re-run new failures that crashed with W^X blocked (nil: none).
    public var jitProfile: String?
    /// The `strictrun` executable that makes each run.
    public var strictrunExecutable: String
    /// The caller's environment (it passes through to every test, as in the conformance run).
    public var environment: [String: String]
    /// Suite variables (`--set`), as the conformance run had them.
    public var overrides: [String: String]

    public init(jobs: Int, budget: Double? = nil, maxSites: Int = 5, ablation: Bool = true, jitProfile: String? = nil,
                strictrunExecutable: String, environment: [String: String], overrides: [String: String] = [:]) {
        self.jobs = jobs
        self.budget = budget
        self.maxSites = maxSites
        self.ablation = ablation
        self.jitProfile = jitProfile
        self.strictrunExecutable = strictrunExecutable
        self.environment = environment
        self.overrides = overrides
    }
}

/// `strictrun conformance explore DIR`: re-runs a conformance run's new failures (and nothing
/// else) under candidate answers at the call sites their traces blocked, first site first,
/// stopping at the first answer that passes; then lifts each blocked rule entirely (ablation)
/// and, with a JIT profile, re-runs W^X crashes under it. Every finished run is appended to
/// `DIR/explore/runs.jsonl` at once; a second explore of the same directory reuses them, so an
/// interrupted explore resumes and ends with the same verdicts.
public final class Explorer: Sendable {
    public let directory: String
    public let results: ConformanceResults
    public let options: ExploreOptions
    let suite: Suite
    let planned: [String: PlannedTest]
    /// Blocked sites per new failure, from its last constrained run's trace.
    let sites: [String: [BlockedSite]]
    /// The `strictrun run` options of the conformance run (between `--trace FILE` and `--`).
    let runArguments: [String]
    let planner: ExplorePlanner
    let journal: ExploreJournal
    let progress: ProgressReporter
    let header: ExploreHeader
    private let state = Mutex(State())
    private let started = ContinuousClock.now

    struct State {
        var stopping = false
        var budgetExhausted = false
        var running: Set<pid_t> = []
        var records: [String: ExploreRunRecord] = [:]
        var made = 0
        var writeFailure: ConformanceError?
    }

    public var explorePath: String { directory + "/" + ExploreResults.directory }

    /// Reads the conformance run in `directory`, its suite and the traces of its new failures;
    /// opens the journal (resuming from it when it exists).
    public init(directory: String, options: ExploreOptions, progress: ProgressReporter) throws(ConformanceError) {
        self.directory = directory
        self.options = options
        self.progress = progress
        let (runHeader, _) = try OutputDirectory.loadRuns(directory)
        results = try OutputDirectory.load(directory)
        do {
            suite = try SuiteLoader(environment: options.environment, rootOverride: results.suite.root,
                                    overrides: options.overrides).load(path: results.suite.file)
        } catch {
            throw .suite(error)
        }
        planned = Dictionary(runHeader.tests.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var sites: [String: [BlockedSite]] = [:]
        var arguments: [String]?
        for test in results.tests where test.status == .newFailure {
            guard let last = test.profile?.attempts.last else { continue }
            if arguments == nil { arguments = Self.runArguments(of: last.command) }
            sites[test.id] = last.trace.flatMap { try? BlockedSite.read(trace: directory + "/" + $0) } ?? []
        }
        self.sites = sites
        runArguments = arguments ?? ["--quiet"]
        planner = ExplorePlanner(maxSites: options.maxSites)
        header = ExploreHeader(conformance: directory, suite: results.suite.name, profile: results.profile,
                               started: ResultsCoding.timestamp(), maxSites: options.maxSites,
                               candidates: planner.candidates, jitProfile: options.jitProfile,
                               tests: sites.keys.sorted())
        journal = try ExploreJournal(directory: directory + "/" + ExploreResults.directory, header: header)
        state.withLock { $0.records = journal.reused }
    }

    /// The options of a constrained run's `strictrun run` command line other than its profile
    /// and trace (`--quiet`, `--run-option`s), which every explore run repeats.
    static func runArguments(of command: [String]) -> [String] {
        guard command.count > 2, command[1] == "run", let dash = command.firstIndex(of: "--") else { return ["--quiet"] }
        var out: [String] = []
        var index = 2
        while index < dash {
            if command[index] == "--profile" || command[index] == "--trace" || command[index] == "-p" || command[index] == "-t" {
                index += 2
                continue
            }
            out.append(command[index])
            index += 1
        }
        return out
    }

    /// Stop: start no more runs and kill the running ones. `run()` then writes what finished.
    public func stop(force: Bool = false) {
        let running = state.withLock { state -> Set<pid_t> in
            state.stopping = true
            return state.running
        }
        for pid in running { ProcessControl.killGroup(pid, force ? SIGKILL : SIGTERM) }
    }

    var stopping: Bool { state.withLock { $0.stopping } }

    /// The finished run of `key`, from this explore or the journal.
    func done(_ key: String) -> ExploreRunRecord? { state.withLock { $0.records[key] } }

    /// Whether a new run may start: not stopping, and within the budget.
    func mayStart() -> Bool {
        if stopping { return false }
        guard let budget = options.budget else { return true }
        if ProgressReporter.seconds(started.duration(to: .now)) < budget { return true }
        state.withLock { $0.budgetExhausted = true }
        return false
    }

    /// Runs already in the journal when this explore started (a resumed explore reuses them).
    public var reusedRuns: Int { journal.reused.count }

    /// Explore everything (within the budget); write `explore/` and update the run's results.
    public func run() throws(ConformanceError) -> ExploreResults {
        try? FileManager.default.createDirectory(atPath: explorePath + "/tmp", withIntermediateDirectories: true)
        let tests = sites.keys.sorted()
        let serial = { (id: String) in self.planned[id]?.serial ?? false }
        progress.begin(phase: "explore: \(tests.count) new failure\(tests.count == 1 ? "" : "s")", total: tests.count)
        runItems(tests.filter { !serial($0) }.map(WorkItem.test), workers: options.jobs)
        runItems(tests.filter(serial).map(WorkItem.test), workers: 1)
        progress.end()
        var singles: [PlannedExploreRun] = []
        if options.ablation { singles += ExplorePlanner.ablationRuns(sites: knownSites(done)) }
        if let jit = options.jitProfile { singles += jitRuns(profile: jit) }
        singles = singles.filter { done($0.key) == nil }
        if !singles.isEmpty && mayStart() {
            progress.begin(phase: "explore: ablation\(options.jitProfile == nil ? "" : " and W^X emulation")", total: singles.count)
            runItems(singles.filter { !serial($0.test) }.map(WorkItem.single), workers: options.jobs)
            runItems(singles.filter { serial($0.test) }.map(WorkItem.single), workers: 1)
            progress.end()
        }
        journal.close()
        try? FileManager.default.removeItem(atPath: explorePath + "/tmp")
        let (records, made, interrupted, budget, failure) = state.withLock {
            ($0.records, $0.made, $0.stopping, $0.budgetExhausted, $0.writeFailure)
        }
        let assembled = ExploreAssembly(explorer: self, records: records).results(
            finished: ResultsCoding.timestamp(), interrupted: interrupted, budgetExhausted: budget, runs: made,
            wall: ProgressReporter.seconds(started.duration(to: .now)))
        try ExploreOutput.write(assembled, conformance: results, directory: directory)
        if let failure { throw failure }
        return assembled
    }

    /// Every test's sites: its trace's, then those its runs revealed.
    func knownSites(_ done: (String) -> ExploreRunRecord?) -> [String: [BlockedSite]] {
        Dictionary(uniqueKeysWithValues: sites.map { test, known in
            (test, planner.sites(test: test, known: known, done: done))
        })
    }

    /// New failures that crashed with a W^X call blocked: each once under the JIT profile.
    func jitRuns(profile: String) -> [PlannedExploreRun] {
        results.tests.filter { test in
            test.status == .newFailure && test.profile?.outcome == .crash
                && (sites[test.id] ?? []).contains { $0.category == "wx" }
        }.map { test in
            PlannedExploreRun(key: ExplorePlanner.jitKey(test: test.id, profile: profile), test: test.id, kind: .jit,
                              answer: profile, arguments: [], profile: profile)
        }
    }

    enum WorkItem: Sendable {
        /// A test's site exploration, run to its verdict.
        case test(String)
        case single(PlannedExploreRun)
    }

    private func runItems(_ items: [WorkItem], workers: Int) {
        guard !items.isEmpty else { return }
        let next = Counter()
        let group = DispatchGroup()
        for worker in 0..<max(1, min(workers, items.count)) {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                while mayStart() {
                    let index = next.take()
                    guard index < items.count else { break }
                    switch items[index] {
                    case .test(let id): exploreTest(id, worker: worker)
                    case .single(let run):
                        guard let record = perform(run, worker: worker) else { continue }
                        progress.runFinished(RunRecord(test: "\(run.test) [\(run.kind.rawValue) \(run.rule ?? run.answer)]",
                                                       mode: .profile, attempt: 1,
                                                       outcome: record.outcome == .pass ? .pass : .skip,
                                                       seconds: record.seconds, started: record.started, worker: worker,
                                                       command: []))
                    }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }

    /// Runs a test's candidates in the planner's order until its verdict is known.
    private func exploreTest(_ id: String, worker: Int) {
        let first = results.test(id)?.attribution?.first.map { "\($0.category)/\($0.rule)" }
        while true {
            switch planner.step(test: id, sites: sites[id] ?? [], firstBlocked: first, done: done) {
            case .run(let run):
                guard mayStart(), perform(run, worker: worker) != nil else { return }
            case .verdict(let verdict):
                progress.runFinished(RunRecord(test: id, mode: .profile, attempt: 1,
                                               outcome: verdict.kind.regains ? .pass : .skip, seconds: 0, started: "",
                                               worker: worker, command: []))
                progress.note("explore: \(id): \(verdict.text)")
                return
            }
        }
    }

    /// Makes one run and records it; nil when it was stopped before it finished.
    private func perform(_ run: PlannedExploreRun, worker: Int) -> ExploreRunRecord? {
        guard let test = planned[run.test] else { return nil }
        guard let record = ExploreExecution(explorer: self).execute(run, test: test, worker: worker) else { return nil }
        do throws(ConformanceError) {
            try journal.append(record)
            state.withLock {
                $0.records[record.key] = record
                $0.made += 1
            }
        } catch {
            state.withLock { state in
                if state.writeFailure == nil { state.writeFailure = error }
                state.stopping = true
            }
            return nil
        }
        return record
    }

    /// Registers a running process group (false: stopping, kill it).
    func started(_ pid: pid_t) -> Bool {
        state.withLock { state -> Bool in
            state.running.insert(pid)
            return !state.stopping
        }
    }

    func ended(_ pid: pid_t) { state.withLock { _ = $0.running.remove(pid) } }
}
