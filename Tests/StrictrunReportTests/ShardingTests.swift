import Foundation
import StrictrunConformance
import StrictrunResults
import Testing

/// Each test's verdict line: what a merge of shards must reproduce exactly.
func verdictLines(_ results: ConformanceResults) -> [String] {
    results.tests.map { test in
        [test.id, test.status.rawValue, test.native?.outcome.rawValue ?? "-", test.profile?.outcome.rawValue ?? "-",
         test.attribution?.primary ?? "-", test.attribution?.categories.map(\.category).joined(separator: ",") ?? "-",
         test.attribution?.first?.site ?? "-", test.flags.joined(separator: " ")].joined(separator: " | ")
    }
}

/// Run several real processes at once; their outcomes in order.
func runAtOnce(_ commands: [(argv: [String], environment: [String: String])]) -> [Result<Outcome, Failure>] {
    let outcomes = OutcomeSlots(count: commands.count)
    DispatchQueue.concurrentPerform(iterations: commands.count) { index in
        do {
            outcomes.set(index, .success(try Paths.run(commands[index].argv, environment: commands[index].environment)))
        } catch {
            outcomes.set(index, .failure(Failure(message: "\(error)")))
        }
    }
    return outcomes.values
}

/// Results written by concurrent threads.
final class OutcomeSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<Outcome, Failure>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<Outcome, Failure>) { lock.withLock { slots[index] = value } }
    var values: [Result<Outcome, Failure>] { lock.withLock { slots.map { $0 ?? .failure(Failure(message: "not run")) } } }
}

/// Sharding on the engines' own contracts, with the real binary and real node: four processes
/// per engine, merged, against one unsharded run of the Node fixture suite.
@Suite("sharding: Kubernetes and Bazel shards of the Node suite, resume after SIGKILL", .serialized)
struct ShardingTests {
    /// `sequential/test-exclusive-port` listens on NODE_COMMON_PORT (default 12346): the other
    /// Node-suite runs of the test suite run beside these ones and use the default, so each test
    /// here takes a port of its own.
    static func environment(port: Int) -> [String: String] {
        jitless.merging(["NODE_COMMON_PORT": String(port)]) { $1 }
    }

    /// Merge `inputs` and compare with the unsharded run: verdicts, counts, completeness.
    func expectMergeEqualsUnsharded(_ inputs: [String], into merged: String, engine: String) throws {
        let base = try NodeSuiteRun.get().results
        let merge = try Paths.strictrun(["conformance", "merge"] + inputs + ["--out", merged])
        #expect(merge.status == 0, "\(engine): merge: \(merge.stderr)")
        let results = try Paths.results(merged)
        #expect(verdictLines(results) == verdictLines(base), "\(engine)")
        #expect(results.totals.pass == base.totals.pass && results.totals.newFailure == base.totals.newFailure
                && results.totals.flaky == base.totals.flaky && results.totals.baselineFail == base.totals.baselineFail
                && results.totals.tests == base.totals.tests, "\(engine)")
        #expect(results.totals.newFailuresByPrimary == base.totals.newFailuresByPrimary, "\(engine)")
        #expect(results.complete && results.mergeProblems == nil && results.mergedFrom?.count == 4, "\(engine)")
        #expect(results.runtimeVersion == base.runtimeVersion && results.runtimeVersion?.hasPrefix("v") == true)
    }

    @Test("JOB_COMPLETION_INDEX=0..3 in four processes, merged, equals one unsharded run")
    func kubernetes() throws {
        let dir = try Paths.temporaryDirectory("k8s")
        let outcomes = runAtOnce((0..<4).map { index in
            ([Paths.strictrun, "conformance", "run", Paths.nodeSuite, "--profile", "microkernel", "--jobs", "1",
              "--out", "\(dir)/index-\(index)", "--quiet"],
             Self.environment(port: 23461).merging(["JOB_COMPLETION_INDEX": String(index), "STRICTRUN_SHARD_COUNT": "4"]) { $1 })
        })
        var seen: [Int] = []
        for (index, outcome) in outcomes.enumerated() {
            let outcome = try outcome.get()
            #expect(outcome.status == 0, "index \(index): \(outcome.stderr)")
            let shard = try #require(try Paths.results("\(dir)/index-\(index)").shard)
            #expect(shard.source == "kubernetes" && shard.count == 4 && shard.selection?.count == 17)
            seen.append(shard.index)
        }
        #expect(seen == [1, 2, 3, 4])
        try expectMergeEqualsUnsharded((0..<4).map { "\(dir)/index-\($0)" }, into: "\(dir)/merged", engine: "kubernetes")
    }

    @Test("Bazel's TEST_TOTAL_SHARDS/TEST_SHARD_INDEX through Examples/ci/bazel/conformance_test.sh: status file, XML_OUTPUT_FILE, merge")
    func bazel() throws {
        let dir = try Paths.temporaryDirectory("bazel")
        let repository = Paths.repository.standardizedFileURL
        let outcomes = runAtOnce((0..<4).map { index in
            let shardDir = "\(dir)/shard_\(index + 1)_of_4"
            try? FileManager.default.createDirectory(atPath: shardDir + "/outputs", withIntermediateDirectories: true)
            return ([Paths.repo("Examples/ci/bazel/conformance_test.sh")], Self.environment(port: 23462).merging([
                "TEST_TOTAL_SHARDS": "4", "TEST_SHARD_INDEX": String(index),
                "TEST_SHARD_STATUS_FILE": shardDir + "/status", "XML_OUTPUT_FILE": shardDir + "/test.xml",
                "TEST_SRCDIR": repository.deletingLastPathComponent().path, "TEST_WORKSPACE": repository.lastPathComponent,
                "TEST_UNDECLARED_OUTPUTS_DIR": shardDir + "/outputs", "TEST_TMPDIR": shardDir,
                "SUITE": "Suites/node-fixtures.yaml", "JOBS": "1", "STRICTRUN": Paths.strictrun,
            ]) { $1 })
        })
        for (index, outcome) in outcomes.enumerated() {
            let outcome = try outcome.get()
            #expect(outcome.status == 0, "shard \(index): \(outcome.stdout)\(outcome.stderr)")
            let shardDir = "\(dir)/shard_\(index + 1)_of_4"
            #expect(FileManager.default.fileExists(atPath: shardDir + "/status"), "TEST_SHARD_STATUS_FILE not touched")
            try expectValidJUnit(shardDir + "/test.xml")
            let shard = try #require(try Paths.results(shardDir + "/outputs/conformance").shard)
            #expect(shard.source == "bazel" && shard.index == index + 1 && shard.count == 4)
        }
        try expectMergeEqualsUnsharded((1...4).map { "\(dir)/shard_\($0)_of_4/outputs/conformance" }, into: "\(dir)/merged",
                                       engine: "bazel")
    }

    @Test("a run SIGKILLed half-way and resumed: same verdicts as uninterrupted, no finished run repeated")
    func resume() throws {
        let base = try NodeSuiteRun.get().results
        let total = base.tests.reduce(0) { $0 + ($1.native?.attempts.count ?? 0) + ($1.profile?.attempts.count ?? 0) }
        let out = try Paths.temporaryDirectory("resume") + "/out"
        let arguments = ["conformance", "run", Paths.nodeSuite, "--profile", "microkernel", "--jobs", "1", "--quiet"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.strictrun)
        process.arguments = arguments + ["--out", out]
        process.environment = ProcessInfo.processInfo.environment.merging(Self.environment(port: 23463)) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Half-way: the native pass done and a third of the constrained pass.
        let runsFile = out + "/runs.jsonl"
        func lines() -> [Substring] {
            ((try? String(contentsOfFile: runsFile, encoding: .utf8)) ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        }
        let deadline = Date().addingTimeInterval(120)
        while lines().count < 1 + 15 + 5 && Date() < deadline && process.isRunning { usleep(20_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let before = lines().dropLast()          // complete lines (a cut last one is dropped)
        #expect(before.count - 1 < total, "the run finished before it was killed")
        #expect(!FileManager.default.fileExists(atPath: out + "/results.json"))

        // Another shard, or another profile, is refused.
        let otherShard = try Paths.strictrun(arguments + ["--resume", out, "--shard", "1/2"], environment: jitless)
        #expect(otherShard.status == 2 && otherShard.stderr.contains("shard was none (the whole suite), now 1/2"), "\(otherShard.stderr)")
        let otherProfile = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--profile", "audit", "--resume", out],
                                               environment: jitless)
        #expect(otherProfile.status == 2 && otherProfile.stderr.contains("profile was microkernel, now audit"), "\(otherProfile.stderr)")

        let resumed = try Paths.strictrun(arguments + ["--resume", out], environment: Self.environment(port: 23463))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let results = try Paths.results(out)
        #expect(verdictLines(results) == verdictLines(base))
        #expect(results.complete && results.resumed?.count == 1)
        // The finished runs were kept as they were, and none ran again.
        let after = lines().filter { !$0.isEmpty }
        #expect(Array(after.prefix(before.count)) == Array(before))
        var keys = Set<String>()
        for line in after {
            let decoded = try JSONDecoder().decode(RunsLine.self, from: Data(line.utf8))
            guard let run = decoded.run else { continue }
            #expect(keys.insert("\(run.test) \(run.mode) \(run.attempt)").inserted, "\(run.test) \(run.mode) #\(run.attempt) ran twice")
        }
        #expect(keys.count == total)
    }
}
