import Foundation
import StrictrunConformance
import StrictrunResults
import Testing

/// `conformance merge` as a user meets it: real shards of a small suite (each test `/bin/true`,
/// run natively and under the profile), merged whole, short, doubled and mismatched.
@Suite("merge: refusals name what is missing, duplicated or different; --allow-partial; --balance-from", .serialized)
struct MergeRefusalTests {
    /// A suite of four tests that pass at once, and a directory for its runs.
    func smallSuite() throws -> String {
        let dir = try Paths.temporaryDirectory("merge")
        try "name: small\ntests: {list: [a, b, c, d]}\ncommand: [/bin/true]\nretries: 0\n"
            .write(toFile: dir + "/suite.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    func run(_ dir: String, _ arguments: [String], shard: String? = nil) throws -> Outcome {
        let outcome = try Paths.strictrun(["conformance", "run", dir + "/suite.yaml", "--jobs", "2", "--quiet"] + arguments,
                                          environment: shard.map { ["STRICTRUN_SHARD": $0] } ?? [:])
        #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
        return outcome
    }

    func merge(_ inputs: [String], _ out: String, _ extra: [String] = []) throws -> Outcome {
        try Paths.strictrun(["conformance", "merge"] + inputs + ["--out", out] + extra)
    }

    @Test("missing shard, duplicated test, different profile file, different strictrun version: exit 2 naming each")
    func refusals() throws {
        let dir = try smallSuite()
        _ = try run(dir, ["--out", dir + "/s1"], shard: "1/2")
        _ = try run(dir, ["--out", dir + "/s2"], shard: "2/2")
        let whole = try merge([dir + "/s1", dir + "/s2"], dir + "/ok")
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(try Paths.results(dir + "/ok").complete)
        let shard = try #require(try Paths.results(dir + "/s1").shard)
        #expect(shard.source == "STRICTRUN_SHARD" && shard.selection == ["a", "b", "c", "d"] && shard.assignment == "round-robin")

        let missing = try merge([dir + "/s1"], dir + "/m1")
        #expect(missing.status == 2 && missing.stderr.contains("missing shard 2 of 2"), "\(missing.stderr)")
        #expect(missing.stderr.contains("2 tests of the suite in no input: 'b', 'd'"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/m1/results.json"))

        _ = try run(dir, ["--out", dir + "/only-a", "--filter", "^a$"])
        let duplicated = try merge([dir + "/s1", dir + "/s2", dir + "/only-a"], dir + "/m2")
        #expect(duplicated.status == 2 && duplicated.stderr.contains("test 'a' is duplicated: in \(dir)/s1 and \(dir)/only-a"),
                "\(duplicated.stderr)")

        // The same profile name from a file that differs by one comment.
        let profile = dir + "/microkernel.yaml"
        try (String(contentsOfFile: Paths.repo("Profiles/microkernel.yaml"), encoding: .utf8) + "# edited\n")
            .write(toFile: profile, atomically: true, encoding: .utf8)
        _ = try run(dir, ["--out", dir + "/s2-profile", "--profile", profile], shard: "2/2")
        let otherProfile = try merge([dir + "/s1", dir + "/s2-profile"], dir + "/m3")
        #expect(otherProfile.status == 2 && otherProfile.stderr.contains("profile file (sha256) differs"), "\(otherProfile.stderr)")
        #expect(otherProfile.stderr.contains("in \(dir)/s2-profile"))

        // A shard recorded by another strictrun version.
        try Paths.copyTree(dir + "/s2", to: dir + "/s2-version")
        for file in ["runs.jsonl", "results.json"] {
            let path = dir + "/s2-version/" + file
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("\"strictrun\":\"0.1.0\"") || text.contains("\"strictrun\" : \"0.1.0\""))
            try text.replacingOccurrences(of: "\"0.1.0\"", with: "\"0.0.9\"").write(toFile: path, atomically: true, encoding: .utf8)
        }
        let otherVersion = try merge([dir + "/s1", dir + "/s2-version"], dir + "/m4")
        #expect(otherVersion.status == 2, "\(otherVersion.stderr)")
        #expect(otherVersion.stderr.contains("strictrun version differs: 0.1.0 in \(dir)/s1; 0.0.9 in \(dir)/s2-version"),
                "\(otherVersion.stderr)")

        // --allow-partial merges anyway, marked incomplete in results.json and the summary.
        let partial = try merge([dir + "/s1"], dir + "/partial", ["--allow-partial"])
        #expect(partial.status == 0, "\(partial.stderr)")
        #expect(partial.stderr.contains("missing shard 2 of 2"))
        let results = try Paths.results(dir + "/partial")
        #expect(!results.complete)
        #expect(results.mergeProblems?.contains("missing shard 2 of 2") == true)
        #expect(results.missingTests == ["b", "d"])
        let summary = try String(contentsOfFile: dir + "/partial/summary.md", encoding: .utf8)
        #expect(summary.contains("**Incomplete merge**") && summary.contains("missing shard 2 of 2"))
        try expectValidJUnit(dir + "/partial/junit.xml")
    }

    /// A results directory whose tests took the given seconds (natively, one run each).
    func durations(_ seconds: [String: Double], ids: [String]) throws -> String {
        let dir = try Paths.temporaryDirectory("durations")
        let tests = ids.map { PlannedTest(id: $0, path: nil, flags: [], group: "parallel", serial: false, timeout: 60) }
        let header = RunHeader(schema: conformanceSchema, suite: SuiteInfo(name: "node-fixtures", description: "", file: "", root: ""),
                               profile: "microkernel", profileReference: "microkernel", strictrun: "0.1.0", started: "",
                               jobs: 1, retries: 1, environment: [:], tests: tests)
        let records = seconds.map { RunRecord(test: $0.key, mode: .native, attempt: 1, outcome: .pass, seconds: $0.value,
                                              started: "", worker: 0, command: []) }
        let results = Classifier.results(header: header, records: records, finished: "", complete: true, interrupted: false,
                                         wall: WallTimes())
        try ResultsCoding.encoder().encode(results).write(to: URL(fileURLWithPath: dir + "/results.json"))
        return dir
    }

    @Test("--balance-from: the longest tests on different shards, every test once, the same assignment twice")
    func balance() throws {
        let ids = try NodeSuiteRun.get().results.tests.map(\.id)
        var seconds = Dictionary(uniqueKeysWithValues: ids.map { ($0, 1.0) })
        let longest = ["parallel/test-wasm-add", "parallel/test-worker-threads", "sequential/test-exclusive-spawn"]
        for (id, value) in zip(longest, [50.0, 40.0, 30.0]) { seconds[id] = value }
        seconds["parallel/test-assert-basic"] = nil        // unknown: the median
        let from = try durations(seconds, ids: ids)
        func assignment() throws -> [[String]] {
            try (1...3).map { k in
                let outcome = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--list", "--shard", "\(k)/3",
                                                   "--balance-from", from], environment: jitless)
                #expect(outcome.status == 0, "\(outcome.stderr)")
                return outcome.stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
            }
        }
        let first = try assignment()
        #expect(try assignment() == first)
        #expect(first.flatMap { $0 }.sorted() == ids.sorted())
        let homes = longest.map { id in first.firstIndex { $0.contains(id) } }
        #expect(Set(homes.compactMap { $0 }).count == 3, "\(first)")
        // Without --balance-from: round-robin by id, as before.
        let plain = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--list", "--shard", "1/3"], environment: jitless)
        #expect(plain.stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
                == stride(from: 0, to: ids.count, by: 3).map { ids.sorted()[$0] })
        // --balance-from without a shard is refused.
        let alone = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--list", "--balance-from", from], environment: jitless)
        #expect(alone.status == 2 && alone.stderr.contains("--balance-from needs a shard"))
        // A real shard run records its assignment.
        let dir = try smallSuite()
        let small = try durations(["a": 5, "b": 1, "c": 1, "d": 1], ids: ["a", "b", "c", "d"])
        _ = try run(dir, ["--out", dir + "/b1", "--balance-from", small], shard: "1/2")
        let shard = try #require(try Paths.results(dir + "/b1").shard)
        #expect(shard.assignment == "durations" && shard.balanceFrom == small && shard.durationsSHA256?.count == 64)
        #expect(try Paths.results(dir + "/b1").tests.map(\.id) == ["a"])
    }
}
