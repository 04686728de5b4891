import ArgumentParser
import Foundation
import StrictrunConformance
import StrictrunResults
import StrictrunSandbox
import Synchronization

/// `strictrun conformance …`: run a runtime's own test suite natively and under a profile, and
/// attribute every new failure to the constraints its trace shows (issue 5).
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run a test suite natively and under a profile; attribute every new failure to a constraint.",
        discussion: """
            Exit status: 0 when the run finished (and, with --expect, matched the expectations); \
            1 when --expect found a new failure or an unexpected pass; 2 for bad input (suite file, \
            profile, a command that does not exist, no test to run, unusable output or baseline); \
            130 when interrupted (what finished is written).
            """,
        subcommands: [RunSuite.self, Merge.self, ExploreCommand.self])

    /// `strictrun conformance run SUITE.yaml`.
    struct RunSuite: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run every test natively and under the profile; write results.json, junit.xml, summary.md and traces/.")

        @Argument(help: "The suite file (YAML; see Suites/README.md).") var suite: String
        @Option(name: .shortAndLong, help: "Profile name or path.") var profile = "microkernel"
        @Option(name: .shortAndLong, help: "Tests run at once (default: the number of cores).") var jobs: Int?
        @Option(name: .shortAndLong, help: "Output directory (default: ./conformance-SUITE-PROFILE[-shard-K-of-N]).") var out: String?
        @Option(help: ArgumentHelp("Run only shard K of N (e.g. 2/3). Without it: STRICTRUN_SHARD=K/N, Bazel's TEST_SHARD_INDEX/TEST_TOTAL_SHARDS, or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX with --shard-count.", valueName: "K/N"))
        var shard: String?
        @Option(help: ArgumentHelp("The number of shards with JOB_COMPLETION_INDEX (or STRICTRUN_SHARD_COUNT): the Job's completions.", valueName: "N"))
        var shardCount: Int?
        @Option(help: ArgumentHelp("Balance the shards by the test durations of an earlier run's output directory (longest first onto the least-loaded shard); without it, every N-th test by sorted id.", valueName: "DIR"))
        var balanceFrom: String?
        @Option(help: ArgumentHelp("Continue the run in DIR from its runs.jsonl, running only what did not finish (a fresh run when DIR has none); DIR must hold this suite, profile and shard.", valueName: "DIR"))
        var resume: String?
        @Option(help: "Reuse the native results of an earlier run's output directory.") var baseline: String?
        @Option(help: "Known failures (TEST-ID [fail|flaky] [# reason] per line): exit 1 on a new failure or an unexpected pass.")
        var expect: String?
        @Flag(help: "Write the --expect file from this run (reasons already in it are kept).") var updateExpectations = false
        @Option(help: "The test root (replaces the suite's 'root:').") var root: String?
        @Option(name: .customLong("set"), help: ArgumentHelp("Set a suite variable (repeatable).", valueName: "name=value"))
        var variables: [String] = []
        @Option(help: "Run only tests whose id matches this regular expression (repeatable: any).") var filter: [String] = []
        @Option(help: "Run at most N tests (the first by sorted id, after --filter).") var limit: Int?
        @Option(help: "Seconds before a test is killed (replaces the suite's timeouts).") var timeout: Double?
        @Option(help: "Retries of a failing run (replaces the suite's 'retries', default 1).") var retries: Int?
        @Option(name: .customLong("run-option"), parsing: .unconditionalSingleValue,
                help: ArgumentHelp("An option for each 'strictrun run' (repeatable), e.g. --run-option=--no-stacks.",
                                   valueName: "option"))
        var runOptions: [String] = []
        @Flag(help: "List the tests (id, group, flags) and exit.") var list = false
        @Flag(name: .shortAndLong, help: "A line for every finished run.") var verbose = false
        @Flag(name: .shortAndLong, help: "No progress on stderr.") var quiet = false

        func run() throws {
            // Ctrl-C before the tests start ends at once; once they run, it stops them cleanly.
            let slot = RunnerSlot()
            let progress = ProgressReporter.automatic(quiet: quiet, verbose: verbose)
            SignalWatch.start { signal in
                guard let runner = slot.runner else { Foundation.exit(130) }
                if slot.interrupts.increment() == 1 {
                    progress.note("stopping (signal \(signal)): killing running tests, writing what finished; again to stop at once")
                    runner.stop()
                } else {
                    runner.stop(force: true)
                }
            }
            let environment = ProcessInfo.processInfo.environment
            var overrides: [String: String] = [:]
            for item in variables {
                guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                    Environment.fail("--set \(item): expected NAME=VALUE", status: 2)
                }
                overrides[String(item[..<equals])] = String(item[item.index(after: equals)...])
            }
            let loader = SuiteLoader(environment: environment, rootOverride: root, overrides: overrides)
            let suiteValue: Suite
            var tests: [PlannedTest]
            do {
                suiteValue = try loader.load(path: suite)
                tests = try loader.tests(of: suiteValue)
            } catch {
                Environment.fail("\(error)", status: 2)
            }
            if tests.isEmpty {
                Environment.fail("\(suite): no tests found under \(suiteValue.root) (check 'tests:' and --root)", status: 2)
            }
            if !filter.isEmpty {
                let expressions: [NSRegularExpression]
                do {
                    expressions = try filter.map { try NSRegularExpression(pattern: $0) }
                } catch {
                    Environment.fail("--filter: not a regular expression: \(error.localizedDescription)", status: 2)
                }
                tests = tests.filter { test in
                    expressions.contains { $0.firstMatch(in: test.id, range: NSRange(test.id.startIndex..., in: test.id)) != nil }
                }
                if tests.isEmpty { Environment.fail("--filter \(filter.joined(separator: " ")): no test matches", status: 2) }
            }
            if let limit {
                guard limit > 0 else { Environment.fail("--limit must be positive", status: 2) }
                tests = Array(tests.prefix(limit))
            }
            let shardValue = selectShard(&tests, environment: environment)
            if list {
                for test in tests {
                    let flags = test.flags.isEmpty ? "" : "  flags: \(test.flags.joined(separator: " "))"
                    Swift.print("\(test.id)  [\(test.group)\(test.serial ? ", serial" : "")]\(flags)")
                }
                return
            }
            if let jobs, jobs < 1 { Environment.fail("--jobs must be at least 1", status: 2) }
            if let timeout, timeout <= 0 { Environment.fail("--timeout must be positive", status: 2) }
            if let retries, !(0...5).contains(retries) { Environment.fail("--retries must be 0 to 5", status: 2) }
            if updateExpectations && expect == nil { Environment.fail("--update-expectations needs --expect FILE", status: 2) }

            let (profileName, profileReference, profileSHA256) = Self.checkProfile(profile)
            var expectations: Expectations?
            if let expect {
                do {
                    expectations = try Expectations.read(path: expect, allowMissing: updateExpectations)
                } catch {
                    Environment.fail("\(error)", status: 2)
                }
            }
            var baselineResults: ConformanceResults?
            var baselinePath: String?
            if let baseline {
                baselinePath = URL(fileURLWithPath: baseline).standardizedFileURL.path
                do {
                    baselineResults = try Self.loadBaseline(baselinePath!, suite: suiteValue.name)
                } catch {
                    Environment.fail("--baseline: \(error)", status: 2)
                }
            }
            let shardSuffix = shardValue.map { "-shard-\($0.index)-of-\($0.count)" } ?? ""
            if let resume, let out, URL(fileURLWithPath: resume).standardizedFileURL != URL(fileURLWithPath: out).standardizedFileURL {
                Environment.fail("--resume \(resume) and --out \(out): a resumed run writes where it was (give one)", status: 2)
            }
            let outPath = URL(fileURLWithPath: resume ?? out ?? "conformance-\(suiteValue.name)-\(profileName)\(shardSuffix)")
                .standardizedFileURL.path
            Self.touchBazelShardStatus(environment)
            let options = RunOptions(
                profileName: profileName, profileReference: profileReference,
                strictrunExecutable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
                strictrunVersion: strictrunVersion, runArguments: runOptions,
                jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount, output: outPath, shard: shardValue,
                baseline: baselineResults, baselinePath: baselinePath, timeout: timeout, retries: retries,
                environment: environment, profileSHA256: profileSHA256, resume: resume != nil)
            let runner: ConformanceRunner
            do {
                runner = try ConformanceRunner(suite: suiteValue, tests: tests, options: options, progress: progress)
            } catch {
                Environment.fail("\(error)", status: 2)
            }
            slot.runner = runner
            let shardNote = shardValue.map { ", shard \($0) (\($0.source ?? "option"), \($0.assignment ?? "round-robin"))" } ?? ""
            let resumeNote = runner.resumedRuns > 0 ? "; resumed: \(runner.resumedRuns) finished run(s) kept" : ""
            progress.note("conformance: \(tests.count) test\(tests.count == 1 ? "" : "s") of \(suiteValue.name) under \(profileName), "
                          + "\(options.jobs) at a time\(shardNote); output: \(outPath)\(resumeNote)")
            let results: ConformanceResults
            do {
                results = try runner.run()
            } catch {
                Environment.fail("\(error)", status: 2)
            }
            Self.printSummary(results, directory: outPath)
            Self.writeBazelXML(environment, directory: outPath)
            if results.interrupted { throw ExitCode(130) }
            if let expect, var expectations {
                if updateExpectations {
                    expectations = expectations.updated(with: results)
                    do {
                        try expectations.text(profile: profileName).write(toFile: expect, atomically: true, encoding: .utf8)
                    } catch {
                        Environment.fail("cannot write \(expect): \(error.localizedDescription)", status: 2)
                    }
                    Swift.print("expectations: wrote \(expectations.order.count) entr\(expectations.order.count == 1 ? "y" : "ies") to \(expect)")
                    return
                }
                try Self.gate(results, expectations: expectations, file: expect, partial: shardValue != nil || !filter.isEmpty || limit != nil)
            }
        }

        /// Load and compile the profile (exit 2 when it is bad); its name, how `strictrun run`
        /// finds it from any working directory, and the SHA-256 of its files.
        static func checkProfile(_ reference: String) -> (String, String, String?) {
            do {
                let profile = try Environment.loader().load(reference)
                _ = try FilterCompiler().compile(profile)
                let isPath = reference.contains("/") || reference.hasSuffix(".yaml") || reference.hasSuffix(".yml")
                return (profile.name, isPath ? URL(fileURLWithPath: reference).standardizedFileURL.path : reference,
                        ContentHash.sha256(files: profile.sources))
            } catch {
                Environment.fail("bad profile: \(error)", status: 2)
            }
        }

        static func loadBaseline(_ path: String, suite: String) throws -> ConformanceResults {
            let results = try OutputDirectory.load(path)
            guard results.suite.name == suite else {
                throw ConformanceError.results("\(path) is a run of suite '\(results.suite.name)', not '\(suite)'")
            }
            return results
        }
    }

    /// `strictrun conformance merge DIR... --out DIR`.
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine output directories (e.g. the shards of one suite) into one result set and summary.")

        @Argument(help: "Output directories of 'conformance run'.") var inputs: [String]
        @Option(name: .shortAndLong, help: "The merged output directory.") var out: String
        @Option(help: "Check the merged results against known failures (exit 1 on a mismatch).") var expect: String?
        @Flag(help: "Merge even when a shard or test is missing, duplicated or the inputs differ; the result is marked incomplete.")
        var allowPartial = false

        func run() throws {
            SignalWatch.start { _ in Foundation.exit(130) }
            let results: ConformanceResults
            do {
                results = try ConformanceMerge.merge(inputs, into: out, allowPartial: allowPartial) { Environment.note($0) }
            } catch {
                Environment.fail("\(error)", status: 2)
            }
            RunSuite.printSummary(results, directory: URL(fileURLWithPath: out).standardizedFileURL.path)
            if let expect {
                let expectations: Expectations
                do {
                    expectations = try Expectations.read(path: expect)
                } catch {
                    Environment.fail("\(error)", status: 2)
                }
                try RunSuite.gate(results, expectations: expectations, file: expect, partial: !results.complete)
            }
        }
    }
}

extension ConformanceCommand.RunSuite {
    /// The headline, the category counts and where the files are, on stdout.
    static func printSummary(_ results: ConformanceResults, directory: String) {
        var lines = [SummaryWriter.headline(results)]
        let t = results.totals
        lines.append("  pass natively \(t.nativePass), baseline-fail \(t.baselineFail), flaky \(t.flaky)"
                     + (t.incomplete > 0 ? ", not finished \(t.incomplete)" : ""))
        for count in t.newFailuresByPrimary { lines.append("  new failures, \(count.category): \(count.tests)") }
        if let flips = SummaryWriter.flipsLine(results) { lines.append("  " + flips) }
        if let tls = SummaryWriter.tlsLine(results) { lines.append("  " + tls) }
        let w = results.wallSeconds
        if w.native > 0 && w.profile > 0 {
            lines.append(String(format: "  wall time: native %.1f s, under %@ %.1f s (%.2f×), retries %.1f s",
                                w.native, results.profile, w.profile, w.profile / w.native, w.retries))
        }
        lines.append("results: \(directory)/\(OutputDirectory.resultsFile)  junit: \(directory)/\(OutputDirectory.junitFile)  "
                     + "summary: \(directory)/\(OutputDirectory.summaryFile)")
        Swift.print(lines.joined(separator: "\n"))
    }

    /// Compare with the expectations; exit 1 on a mismatch.
    static func gate(_ results: ConformanceResults, expectations: Expectations, file: String, partial: Bool) throws {
        let mismatches = expectations.check(results)
        if !partial {
            for id in expectations.unknownIds(results) { Environment.note("expectations: \(file): '\(id)' is not a test of this run") }
        }
        for test in results.tests where test.status == .flaky && expectations.entries[test.id] == nil {
            Environment.note("expectations: flaky (not gated): \(test.id)")
        }
        if mismatches.isEmpty {
            Swift.print("expectations: \(file): matched (\(expectations.entries.count) known failure(s))")
            return
        }
        for mismatch in mismatches { Swift.print("expectations: \(mismatch)") }
        Swift.print("expectations: \(mismatches.count) mismatch(es) with \(file) (update with --update-expectations)")
        throw ExitCode(1)
    }
}

/// A count shared with the signal thread.
final class SignalCount: Sendable {
    private let value = Mutex(0)
    /// The new count.
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}

/// The runner, once there is one, for the signal thread.
final class RunnerSlot: Sendable {
    private let value = Mutex<ConformanceRunner?>(nil)
    let interrupts = SignalCount()
    var runner: ConformanceRunner? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
