#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import StrictrunResults

/// Runs a suite's tests natively and under a profile: a native pass, a constrained pass (same
/// `--jobs`, each test through `strictrun run` with its own trace), then one retry of every run
/// that failed. Serial groups run one test at a time after the concurrent ones. Each finished
/// run is appended to `runs.jsonl` at once; `stop()` (Ctrl-C) kills the running tests' process
/// groups and the results of what finished are still written. With `options.resume`, the runs
/// `runs.jsonl` already holds are kept and only the others run.
public final class ConformanceRunner: Sendable {
    public let suite: Suite
    public let tests: [PlannedTest]
    public let options: RunOptions
    let progress: ProgressReporter
    let output: OutputDirectory
    let header: RunHeader
    /// The baseline's native results by test id.
    let baselineNative: [String: ModeResult]
    /// When the run was resumed (earlier resumes, then this one); empty for a fresh run.
    let resumedAt: [String]
    /// The runs this process found finished in `runs.jsonl` (`--resume`).
    public let resumedRuns: Int
    private let state = Mutex(State())

    struct State {
        var stopping = false
        var running: Set<pid_t> = []
        var records: [RunRecord] = []
        var writeFailure: ConformanceError?
    }

    /// One run to make.
    struct WorkItem: Sendable {
        var test: PlannedTest
        var mode: RunMode
        var attempt: Int
    }

    /// Check every test's command, prepare the output directory and write the header line.
    public init(suite: Suite, tests: [PlannedTest], options: RunOptions, progress: ProgressReporter) throws(ConformanceError) {
        guard !tests.isEmpty else { throw .noTests("no tests to run") }
        self.suite = suite
        self.tests = tests
        self.options = options
        self.progress = progress
        // A missing program is bad input, found before anything runs.
        var checked = Set<String>()
        for test in tests {
            let (argv, environment, directory) = Self.command(suite: suite, test: test, worker: 0, mode: .native,
                                                              options: options)
            guard let program = argv.first, checked.insert(program + "\u{0}" + directory).inserted else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .command("the working directory of test '\(test.id)' does not exist: \(directory) (suite key 'cwd')")
            }
            do {
                _ = try ProcessControl.resolve(program, path: environment["PATH"], directory: directory)
            } catch {
                throw .command("the command of test '\(test.id)' cannot run: \(error) "
                               + "(command: \(argv.joined(separator: " ")); suite key 'command' at \(suite.commandLocation.map(String.init(describing:)) ?? suite.file))")
            }
        }
        var recorded: [String: String] = [:]
        for name in suite.recordEnvironment { recorded[name] = options.environment[name] ?? "" }
        let planned = RunHeader(
            schema: conformanceSchema,
            suite: SuiteInfo(name: suite.name, description: suite.description, file: suite.file, root: suite.root,
                             sha256: suite.sha256),
            profile: options.profileName, profileReference: options.profileReference,
            profileSHA256: options.profileSHA256, strictrun: options.strictrunVersion,
            runtimeVersion: suite.runtimeVersion, started: ResultsCoding.timestamp(), jobs: options.jobs,
            retries: options.retries ?? suite.retries, shard: options.shard, environment: recorded, tests: tests)
        var native: [String: ModeResult] = [:]
        for test in options.baseline?.tests ?? [] { native[test.id] = test.native }
        baselineNative = native
        if options.resume, let earlier = try ResumeCheck.existingRuns(options.output) {
            let problems = ResumeCheck.problems(existing: earlier.header, requested: planned)
            guard problems.isEmpty else {
                throw .resume("cannot resume \(options.output): " + problems.joined(separator: "; ")
                              + " (resume with the same suite, profile, shard and settings, or use a new --out)")
            }
            let now = ResultsCoding.timestamp()
            header = earlier.header
            resumedAt = earlier.resumed + [now]
            output = try OutputDirectory(resuming: options.output, at: now)
            let kept = ResumeCheck.finishedRuns(earlier.records)
            resumedRuns = kept.count
            state.withLock { $0.records = kept }
        } else {
            header = planned
            resumedAt = []
            resumedRuns = 0
            output = try OutputDirectory(creating: options.output, header: header)
        }
    }

    /// Stop: start no more runs and kill the running ones (SIGTERM to each process group, SIGKILL
    /// two seconds later). `run()` then returns the results of what finished.
    /// With `force`, SIGKILL at once.
    public func stop(force: Bool = false) {
        let running = state.withLock { state -> Set<pid_t> in
            state.stopping = true
            return state.running
        }
        for pid in running { ProcessControl.killGroup(pid, force ? SIGKILL : SIGTERM) }
    }

    var stopping: Bool { state.withLock { $0.stopping } }

    /// Run everything; write and return the results.
    public func run() throws(ConformanceError) -> ConformanceResults {
        var wall = WallTimes()
        let retries = header.retries
        // Native pass (or the baseline's native runs).
        var nativeItems: [WorkItem] = []
        let resumedNative = Set(state.withLock { $0.records }.filter { $0.mode == .native }.map(\.test))
        for test in tests where !resumedNative.contains(test.id) {
            if let reused = baselineNative[test.id], Classifier.settled(reused, retries: retries) {
                for var reusedRecord in reused.attempts {
                    reusedRecord.reusedFrom = options.baselinePath
                    if let log = reusedRecord.log, let base = options.baselinePath, !log.hasPrefix("/") {
                        reusedRecord.log = base + "/" + log
                    }
                    try record(reusedRecord)
                }
            } else {
                nativeItems.append(WorkItem(test: test, mode: .native, attempt: 1))
            }
        }
        wall.native = pass("native", nativeItems)
        wall.profile = pass("profile (\(options.profileName))", tests.map { WorkItem(test: $0, mode: .profile, attempt: 1) })
        // Retries: natively first, then under the profile for tests that do pass natively.
        let retryStart = ContinuousClock.now
        for attempt in stride(from: 2, through: 1 + retries, by: 1) where !stopping {
            let byTest = Dictionary(grouping: state.withLock { $0.records }, by: \.test)
            var items: [WorkItem] = []
            for test in tests {
                let native = Classifier.modeResult(byTest[test.id, default: []].filter { $0.mode == .native })
                if let native, native.outcome.isFailure, native.attempts.count == attempt - 1 {
                    items.append(WorkItem(test: test, mode: .native, attempt: attempt))
                }
            }
            _ = pass("native retry", items)
            let after = Dictionary(grouping: state.withLock { $0.records }, by: \.test)
            items = []
            for test in tests {
                let records = after[test.id, default: []]
                let native = Classifier.modeResult(records.filter { $0.mode == .native })
                let profile = Classifier.modeResult(records.filter { $0.mode == .profile })
                guard native?.passed == true, let profile, profile.outcome.isFailure,
                      profile.attempts.count == attempt - 1 else { continue }
                items.append(WorkItem(test: test, mode: .profile, attempt: attempt))
            }
            _ = pass("profile retry", items)
        }
        wall.retries = ProgressReporter.seconds(retryStart.duration(to: .now))

        let (records, failure, interrupted) = state.withLock { ($0.records, $0.writeFailure, $0.stopping) }
        var results = Classifier.results(header: header, records: records, finished: ResultsCoding.timestamp(),
                                         complete: !interrupted, interrupted: interrupted, wall: wall)
        if !resumedAt.isEmpty { results.resumed = resumedAt }
        try output.finish(results)
        if let failure { throw failure }
        return results
    }

    private func record(_ record: RunRecord) throws(ConformanceError) {
        state.withLock { $0.records.append(record) }
        try output.append(record)
    }

    /// Run `items`: the concurrent ones on `jobs` workers, then the serial ones one at a time.
    /// Returns the wall time in seconds.
    private func pass(_ phase: String, _ all: [WorkItem]) -> Double {
        // Runs a resumed run already finished are not run again.
        let finished = Set(state.withLock { $0.records }.map { ResumeCheck.key($0.test, $0.mode, $0.attempt) })
        let items = all.filter { !finished.contains(ResumeCheck.key($0.test.id, $0.mode, $0.attempt)) }
        guard !items.isEmpty, !stopping else { return 0 }
        let start = ContinuousClock.now
        progress.begin(phase: phase, total: items.count)
        // Longest first when a baseline knows durations: the pass ends sooner.
        let ordered = items.sorted { a, b in
            let da = baselineNative[a.test.id]?.attempts.first?.seconds ?? 0
            let db = baselineNative[b.test.id]?.attempts.first?.seconds ?? 0
            return da != db ? da > db : a.test.id < b.test.id
        }
        runConcurrently(ordered.filter { !$0.test.serial }, workers: options.jobs)
        runConcurrently(ordered.filter { $0.test.serial }, workers: 1)
        progress.end()
        return ProgressReporter.seconds(start.duration(to: .now))
    }

    private func runConcurrently(_ items: [WorkItem], workers: Int) {
        guard !items.isEmpty else { return }
        let next = Counter()
        let group = DispatchGroup()
        for worker in 0..<max(1, min(workers, items.count)) {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                while !stopping {
                    let index = next.take()
                    guard index < items.count else { break }
                    guard let record = execute(items[index], worker: worker) else { continue }
                    do throws(ConformanceError) {
                        try self.record(record)
                    } catch {
                        state.withLock { state in
                            if state.writeFailure == nil { state.writeFailure = error }
                            state.stopping = true
                        }
                    }
                    progress.runFinished(record)
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }

    /// The argv, environment and working directory of `test` on `worker` (before the profile
    /// wrapping): the suite's templates filled in, the caller's environment passed through.
    static func command(suite: Suite, test: PlannedTest, worker: Int, mode: RunMode,
                        options: RunOptions) -> ([String], [String: String], String) {
        var values = suite.variables
        values["root"] = suite.root
        values["file"] = suite.root + "/" + (test.path ?? test.id)
        values["path"] = test.path ?? test.id
        values["name"] = test.id
        values["worker"] = String(worker)
        values["tmp"] = options.output + "/tmp"
        values["out"] = options.output
        values["profile"] = options.profileName
        values["mode"] = mode.rawValue
        let lists = ["flags": test.flags]
        let argv = suite.command.expand(values, lists: lists)
        var environment = options.environment
        for (name, value) in suite.environment { environment[name] = value.expandValue(values, lists: lists) }
        let directory = suite.directory.expandValue(values, lists: lists)
        return (argv, environment, directory)
    }

    /// Run one item to its end (or its timeout); nil when stopped before it finished.
    private func execute(_ item: WorkItem, worker: Int) -> RunRecord? {
        let (argv, environment, directory) = Self.command(suite: suite, test: item.test, worker: worker,
                                                          mode: item.mode, options: options)
        let log = output.relativePath(test: item.test.id, mode: item.mode, attempt: item.attempt, kind: "log")
        var trace: String?
        var spawned = argv
        if item.mode == .profile {
            let relative = output.relativePath(test: item.test.id, mode: item.mode, attempt: item.attempt, kind: "trace")
            trace = relative
            spawned = [options.strictrunExecutable, "run", "--profile", options.profileReference,
                       "--trace", options.output + "/" + relative, "--quiet"] + options.runArguments + ["--"] + argv
        }
        var record = RunRecord(test: item.test.id, mode: item.mode, attempt: item.attempt, outcome: .error,
                               exitCode: nil, signal: nil, seconds: 0, started: ResultsCoding.timestamp(),
                               worker: worker, command: spawned, log: log, trace: trace, digest: nil, message: nil,
                               reusedFrom: nil)
        // A resumed run's unfinished attempt may have left a partial log or trace (and the killed
        // runner's orphan may still hold it open): start from new files.
        for relative in [log, trace].compactMap({ $0 }) { try? FileManager.default.removeItem(atPath: options.output + "/" + relative) }
        let start = ContinuousClock.now
        let pid: pid_t
        do {
            let executable = try ProcessControl.resolve(spawned[0], path: environment["PATH"], directory: directory)
            pid = try ProcessControl.spawn(SpawnRequest(executable: executable, argv: spawned, environment: environment,
                                                        directory: directory, outputPath: options.output + "/" + log))
        } catch {
            record.message = "\(error)"
            return record
        }
        let registered = state.withLock { state -> Bool in
            state.running.insert(pid)
            return !state.stopping
        }
        progress.runStarted(item.test.id)
        defer { state.withLock { _ = $0.running.remove(pid) } }
        if !registered { ProcessControl.killGroup(pid, SIGTERM) }
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64((options.timeout ?? item.test.timeout) * 1000)))
        var termination: Termination?
        var timedOut = false
        switch ProcessControl.wait(for: pid, deadline: deadline, stop: { self.stopping }) {
        case .ended(let ended):
            termination = ended
        case .deadline:
            timedOut = true
            termination = ProcessControl.terminate(pid)
        case .stopped:
            ProcessControl.terminate(pid)
            return nil
        }
        record.seconds = ProgressReporter.seconds(start.duration(to: .now))
        if item.mode == .profile, let trace {
            record.digest = try? TraceDigest.read(path: options.output + "/" + trace)
        }
        decide(&record, termination: termination, timedOut: timedOut)
        return record
    }

    /// 0: pass; a `skip-exit-codes` status: skip; anything else: fail.
    private func outcome(exitCode: Int) -> TestOutcome {
        exitCode == 0 ? .pass : suite.skipExitCodes.contains(exitCode) ? .skip : .fail
    }

    /// SIGTERM to the group (strictrun forwards it and closes its trace), SIGKILL after 2 s.
    /// The outcome of a finished run: natively from the exit status; under the profile from the
    /// trace's final `exit` line (the program's own status or signal), else strictrun's status.
    private func decide(_ record: inout RunRecord, termination: Termination?, timedOut: Bool) {
        if timedOut {
            record.outcome = .timeout
            record.message = "killed after \(Int(options.timeout ?? tests.first { $0.id == record.test }?.timeout ?? 0)) s"
            return
        }
        if record.mode == .profile {
            if let digest = record.digest, digest.complete {
                if let breaks = digest.seqBreaks {
                    record.outcome = .error
                    record.message = "the trace's seq numbers break \(breaks) time(s): lines were lost, removed or forged"
                } else if let error = digest.error {
                    record.outcome = .error
                    record.message = "strictrun: \(error)"
                } else if let signal = digest.signal {
                    record.outcome = .crash
                    record.signal = signal
                } else {
                    record.exitCode = digest.exitStatus
                    record.outcome = outcome(exitCode: digest.exitStatus ?? 255)
                }
                return
            }
            switch termination {
            case .exited(let code)?:
                record.exitCode = Int(code)
                record.outcome = .error
                record.message = "strictrun exited with \(code) without closing its trace (see the log)"
            case .signaled(let signal)?:
                record.outcome = .error
                record.message = "strictrun was killed by \(ProcessControl.signalName(signal))"
            case nil:
                record.outcome = .error
            }
            return
        }
        switch termination {
        case .exited(let code)?:
            record.exitCode = Int(code)
            record.outcome = outcome(exitCode: Int(code))
        case .signaled(let signal)?:
            record.outcome = .crash
            record.signal = ProcessControl.signalName(signal)
        case nil:
            record.outcome = .error
        }
    }
}

/// A shared counter: each `take()` returns the next integer from 0.
final class Counter: Sendable {
    private let value = Mutex(0)
    func take() -> Int {
        value.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}
