#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrictrunResults

/// One explore run: the test's command as the conformance run built it (same suite templates,
/// same `strictrun run` options), under the run's answers, with its own trace and log under
/// `explore/`. Its outcome is read as the conformance runner reads a constrained run's: from
/// the trace's final `exit` line.
struct ExploreExecution {
    let explorer: Explorer

    /// `explore/traces/<test>/<run>.jsonl` and `explore/logs/<test>/<run>.log`, relative to the
    /// conformance directory (parents created).
    func paths(_ run: PlannedExploreRun) -> (trace: String, log: String) {
        let name = OutputDirectory.safeName(run.test)
        let tail = run.key.split(separator: "|", maxSplits: 1).last.map(String.init) ?? run.key
        let slug = String(tail.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
        let base = ExploreResults.directory
        let trace = "\(base)/traces/\(name)/\(slug).jsonl"
        let log = "\(base)/logs/\(name)/\(slug).log"
        for relative in [trace, log] {
            let parent = URL(fileURLWithPath: explorer.directory + "/" + relative).deletingLastPathComponent().path
            try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        return (trace, log)
    }

    /// Runs `run` to its end or the test's timeout; nil when explore was stopped meanwhile.
    func execute(_ run: PlannedExploreRun, test: PlannedTest, worker: Int) -> ExploreRunRecord? {
        let results = explorer.results
        let options = RunOptions(profileName: results.profile, profileReference: results.profileReference,
                                 strictrunExecutable: explorer.options.strictrunExecutable,
                                 strictrunVersion: results.strictrun, jobs: explorer.options.jobs,
                                 output: explorer.explorePath, environment: explorer.options.environment)
        let (argv, environment, directory) = ConformanceRunner.command(suite: explorer.suite, test: test, worker: worker,
                                                                       mode: .profile, options: options)
        let (trace, log) = paths(run)
        let answers = run.arguments.flatMap { ["--answer", $0] }
        let command = [explorer.options.strictrunExecutable, "run", "--profile", run.profile ?? results.profileReference,
                       "--trace", explorer.directory + "/" + trace] + explorer.runArguments + answers + ["--"] + argv
        var record = ExploreRunRecord(key: run.key, test: run.test, kind: run.kind, site: run.site, rule: run.rule,
                                      answer: run.answer, arguments: run.arguments, outcome: .error,
                                      started: ResultsCoding.timestamp(), worker: worker, log: log, trace: trace)
        let start = ContinuousClock.now
        let pid: pid_t
        do {
            let executable = try ProcessControl.resolve(command[0], path: environment["PATH"], directory: directory)
            pid = try ProcessControl.spawn(SpawnRequest(executable: executable, argv: command, environment: environment,
                                                        directory: directory, outputPath: explorer.directory + "/" + log))
        } catch {
            record.message = "\(error)"
            return record
        }
        let registered = explorer.started(pid)
        defer { explorer.ended(pid) }
        if !registered { ProcessControl.killGroup(pid, SIGTERM) }
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(test.timeout * 1000)))
        switch ProcessControl.wait(for: pid, deadline: deadline, stop: { explorer.stopping }) {
        case .ended:
            // A run that ended while explore was stopping may have ended by its kill: it is made
            // again on resume rather than recorded as a failure.
            if explorer.stopping { return nil }
        case .deadline:
            ProcessControl.terminate(pid)
            record.outcome = .timeout
            record.message = "killed after \(Int(test.timeout)) s"
        case .stopped:
            ProcessControl.terminate(pid)
            return nil
        }
        record.seconds = ProgressReporter.seconds(start.duration(to: .now))
        let path = explorer.directory + "/" + trace
        if record.outcome != .timeout {
            decide(&record, digest: try? TraceDigest.read(path: path))
        }
        let counts = BlockedSite.answerCounts(trace: path)
        record.answered = counts.answered
        record.unavailable = counts.unavailable
        if run.kind == .site && !counts.unanswered.isEmpty { record.revealed = counts.unanswered }
        return record
    }

    /// The outcome from the trace's final line: the program's own status or signal; a trace
    /// without one is strictrun's error.
    private func decide(_ record: inout ExploreRunRecord, digest: TraceDigest?) {
        guard let digest, digest.complete else {
            record.outcome = .error
            record.message = "strictrun did not close its trace (see the log)"
            return
        }
        if let error = digest.error {
            record.outcome = .error
            record.message = "strictrun: \(error)"
        } else if let signal = digest.signal {
            record.outcome = .crash
            record.signal = signal
        } else {
            let code = digest.exitStatus ?? 255
            record.exitCode = code
            record.outcome = code == 0 ? .pass : explorer.suite.skipExitCodes.contains(code) ? .skip : .fail
        }
    }
}
