import Foundation
import StrictrunConformance
import StrictrunResults
import Testing

/// The pure decisions of sharding: which shard the environment asks for, how durations cut the
/// shards, what a merge and a resume refuse.
@Suite("sharding: shard selection, balance, merge and resume checks (pure)")
struct ShardingUnitTests {
    func resolve(_ environment: [String: String], option: String? = nil, count: Int? = nil) throws -> ShardChoice? {
        try ShardSelection.resolve(option: option, shardCount: count, environment: environment)
    }

    /// The error of a resolve that must fail.
    func failure(_ environment: [String: String], option: String? = nil, count: Int? = nil) -> ShardSelectionError? {
        do {
            _ = try ShardSelection.resolve(option: option, shardCount: count, environment: environment)
            return nil
        } catch {
            return error
        }
    }

    @Test("each engine's variables give the 1-based shard and name their source")
    func sources() throws {
        #expect(try resolve([:]) == nil)
        let bazel = try #require(try resolve(["TEST_TOTAL_SHARDS": "4", "TEST_SHARD_INDEX": "0"]))
        #expect(bazel.shard.index == 1 && bazel.shard.count == 4 && bazel.shard.source == "bazel")
        let k8s = try #require(try resolve(["JOB_COMPLETION_INDEX": "3", "STRICTRUN_SHARD_COUNT": "4"]))
        #expect(k8s.shard.index == 4 && k8s.shard.count == 4 && k8s.shard.source == "kubernetes")
        let k8sOption = try #require(try resolve(["JOB_COMPLETION_INDEX": "1"], count: 3))
        #expect(k8sOption.shard.index == 2 && k8sOption.shard.count == 3)
        let matrix = try #require(try resolve(["STRICTRUN_SHARD": "2/5"]))
        #expect(matrix.shard.index == 2 && matrix.shard.count == 5 && matrix.shard.source == "STRICTRUN_SHARD")
        // --shard wins over every variable; the losers are named.
        let both = try #require(try resolve(["STRICTRUN_SHARD": "2/5", "JOB_COMPLETION_INDEX": "0", "STRICTRUN_SHARD_COUNT": "2"],
                                            option: "1/3"))
        #expect(both.shard.index == 1 && both.shard.count == 3 && both.shard.source == "option")
        #expect(both.ignored == ["STRICTRUN_SHARD", "JOB_COMPLETION_INDEX"])
        // Empty variables are unset.
        #expect(try resolve(["STRICTRUN_SHARD": "", "JOB_COMPLETION_INDEX": " "]) == nil)
    }

    @Test("a bad value is refused naming the variable")
    func badValues() {
        let cases: [([String: String], String?, Int?, String)] = [
            (["TEST_TOTAL_SHARDS": "4", "TEST_SHARD_INDEX": "4"], nil, nil, "TEST_SHARD_INDEX=4"),
            (["TEST_TOTAL_SHARDS": "four", "TEST_SHARD_INDEX": "0"], nil, nil, "TEST_TOTAL_SHARDS=four"),
            (["TEST_TOTAL_SHARDS": "0", "TEST_SHARD_INDEX": "0"], nil, nil, "TEST_TOTAL_SHARDS=0"),
            (["TEST_SHARD_INDEX": "1"], nil, nil, "TEST_TOTAL_SHARDS"),
            (["TEST_TOTAL_SHARDS": "2"], nil, nil, "TEST_SHARD_INDEX"),
            (["JOB_COMPLETION_INDEX": "2"], nil, nil, "JOB_COMPLETION_INDEX=2: the number of shards is not known: pass --shard-count N or set STRICTRUN_SHARD_COUNT"),
            (["JOB_COMPLETION_INDEX": "-1", "STRICTRUN_SHARD_COUNT": "4"], nil, nil, "JOB_COMPLETION_INDEX=-1"),
            (["JOB_COMPLETION_INDEX": "4", "STRICTRUN_SHARD_COUNT": "4"], nil, nil, "JOB_COMPLETION_INDEX=4"),
            (["JOB_COMPLETION_INDEX": "0", "STRICTRUN_SHARD_COUNT": "x"], nil, nil, "STRICTRUN_SHARD_COUNT=x"),
            (["STRICTRUN_SHARD": "3/2"], nil, nil, "STRICTRUN_SHARD=3/2"),
            ([:], "0/2", nil, "--shard 0/2"),
            ([:], nil, 4, "--shard-count"),
            (["STRICTRUN_SHARD": "1/2"], nil, 4, "--shard-count"),
        ]
        for (environment, option, count, needle) in cases {
            let error = failure(environment, option: option, count: count)
            #expect(error?.description.hasPrefix(needle) == true, "\(environment) \(option ?? "") → \(error?.description ?? "accepted")")
        }
    }

    func planned(_ ids: [String]) -> [PlannedTest] {
        ids.map { PlannedTest(id: $0, path: nil, flags: [], group: "default", serial: false, timeout: 60) }
    }

    @Test("durations: the longest tests go to different shards, ties broken by id, the same twice")
    func balance() {
        let seconds: [String: Double] = ["a": 1, "b": 50, "c": 1, "d": 40, "e": 30, "f": 1, "g": 1, "h": 2]
        let bins = ShardPlanner.balance(seconds, count: 3)
        #expect(bins == ShardPlanner.balance(seconds, count: 3))
        #expect(Set(bins.flatMap { $0 }) == Set(seconds.keys) && bins.flatMap { $0 }.count == seconds.count)
        for (one, two) in [("b", "d"), ("b", "e"), ("d", "e")] {
            #expect(bins.firstIndex { $0.contains(one) } != bins.firstIndex { $0.contains(two) }, "\(one) and \(two) together: \(bins)")
        }
        #expect(bins == [["b"], ["d"], ["a", "c", "e", "f", "g", "h"]])
        // Balance: the largest predicted shard is no larger than round-robin's.
        let roundRobin = (1...3).map { Shard(index: $0, count: 3).select(planned(seconds.keys.sorted())).map(\.id) }
        let balanced = ShardPlanner.loads(bins, seconds: seconds).max()!
        #expect(balanced < ShardPlanner.loads(roundRobin, seconds: seconds).max()!)
        // Equal durations: shards of equal size, by id.
        #expect(ShardPlanner.balance(["x": 1, "y": 1, "z": 1, "w": 1], count: 2) == [["w", "y"], ["x", "z"]])
    }

    @Test("select records the selection and assignment; unknown tests get the median")
    func select() {
        let tests = planned(["a", "b", "c", "d", "new"])
        let durations = TestDurations(seconds: ["a": 10, "b": 1, "c": 2, "d": 3], source: "/prev")
        #expect(durations.defaultSeconds == 2.5)
        var all: [String] = []
        for index in 1...2 {
            let (shard, mine) = ShardPlanner.select(tests, shard: Shard(index: index, count: 2), durations: durations)
            #expect(shard.assignment == "durations" && shard.balanceFrom == "/prev" && shard.durationsSHA256 == durations.sha256)
            #expect(shard.selection == ["a", "b", "c", "d", "new"])
            all += mine.map(\.id)
        }
        #expect(all.sorted() == ["a", "b", "c", "d", "new"])
        let (plain, first) = ShardPlanner.select(tests, shard: Shard(index: 1, count: 2), durations: nil)
        #expect(plain.assignment == "round-robin" && first.map(\.id) == ["a", "c", "new"])
    }

    func header(_ ids: [String], shard: Shard? = nil, profileSHA: String = "p1", strictrun: String = "0.1.0") -> RunHeader {
        RunHeader(schema: conformanceSchema, suite: SuiteInfo(name: "s", description: "", file: "/s.yaml", root: "/", sha256: "s1"),
                  profile: "microkernel", profileReference: "microkernel", profileSHA256: profileSHA, strictrun: strictrun,
                  runtimeVersion: "v20", started: "t", jobs: 1, retries: 1, shard: shard, environment: [:], tests: planned(ids))
    }

    func shard(_ index: Int, _ count: Int, selection: [String]) -> Shard {
        var shard = Shard(index: index, count: count)
        shard.selection = selection
        shard.assignment = "round-robin"
        return shard
    }

    @Test("merge check: a complete set passes; missing shard, duplicated test, other profile or version named")
    func mergeCheck() {
        let all = ["a", "b", "c", "d"]
        let one = MergeInput(path: "/1", header: header(["a", "c"], shard: shard(1, 2, selection: all)), complete: true)
        let two = MergeInput(path: "/2", header: header(["b", "d"], shard: shard(2, 2, selection: all)), complete: true)
        #expect(MergeCheck.check([one, two]).problems.isEmpty)

        let missing = MergeCheck.check([one])
        #expect(missing.problems.map(\.description).contains("missing shard 2 of 2"))
        #expect(missing.missingTests == ["b", "d"])

        let again = MergeCheck.check([one, two, one])
        #expect(again.problems.map(\.description).contains { $0.hasPrefix("test 'a' is duplicated: in /1 and /1") })
        #expect(again.problems.map(\.description).contains("shard 1/2 given more than once: /1, /1"))

        var otherProfile = two
        otherProfile.header.profileSHA256 = "p2"
        #expect(MergeCheck.check([one, otherProfile]).problems.map(\.description)
                == ["profile file (sha256) differs: p1 in /1; p2 in /2"])
        var otherVersion = two
        otherVersion.header.strictrun = "0.0.9"
        #expect(MergeCheck.check([one, otherVersion]).problems.map(\.description)
                == ["strictrun version differs: 0.1.0 in /1; 0.0.9 in /2"])
        var unfinished = two
        unfinished.complete = false
        #expect(MergeCheck.check([one, unfinished]).problems.map(\.description).contains { $0.hasPrefix("/2 did not finish") })
        var balanced = two
        balanced.header.shard?.assignment = "durations"
        #expect(MergeCheck.check([one, balanced]).problems.map(\.description).contains { $0.hasPrefix("shard assignment differs") })
        // Whole runs merge without shard checks, duplicates still refused.
        let whole = MergeInput(path: "/w", header: header(["a"]), complete: true)
        #expect(MergeCheck.check([whole, MergeInput(path: "/x", header: header(["b"]), complete: true)]).problems.isEmpty)
        #expect(MergeCheck.check([one, two, whole]).problems.map(\.description).contains { $0.hasPrefix("/w is a whole run") })
    }

    @Test("resume check: the same run passes; another shard, profile or test list is named")
    func resumeCheck() {
        let base = header(["a", "b"])
        #expect(ResumeCheck.problems(existing: base, requested: header(["a", "b"])).isEmpty)
        #expect(ResumeCheck.problems(existing: base, requested: header(["a", "b"], shard: Shard(index: 1, count: 2)))
                == ["shard was none (the whole suite), now 1/2"])
        #expect(ResumeCheck.problems(existing: base, requested: header(["a", "b"], profileSHA: "p9"))
                == ["profile file (sha256) was p1, now p9"])
        #expect(ResumeCheck.problems(existing: base, requested: header(["a", "c"]))
                == ["the tests differ (2 then, 2 now; no longer: b; new: c)"])
    }
}
