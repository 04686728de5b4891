import Foundation
import StrictrunConformance
import StrictrunResults
import Testing

/// `strictrun conformance` on the Node-layout fixture suite, as a user runs it: the real binary,
/// real node, each constrained test through `strictrun run`.
@Suite("conformance: Node fixture suite", .serialized)
struct NodeSuiteTests {
    @Test("flags, groups and worker ids honoured; every new failure attributed; flake and baseline failure named")
    func verdicts() throws {
        let run = try NodeSuiteRun.get()
        let results = run.results
        func status(_ id: String) -> TestStatus? { results.test(id)?.status }
        func primary(_ id: String) -> String? { results.test(id)?.attribution?.primary }

        #expect(results.complete && !results.interrupted)
        #expect(results.tests.count == 17)
        // `// Flags:` reached node (these fail without --expose-gc / --stack-trace-limit=7).
        #expect(results.test("parallel/test-flags-expose-gc")?.flags == ["--expose-gc"])
        #expect(status("parallel/test-flags-expose-gc") == .pass)
        #expect(status("parallel/test-flags-several") == .pass)
        // A distinct TEST_THREAD_ID per worker: the temp-dir test passes in both modes.
        #expect(status("parallel/test-fs-tmpdir") == .pass)
        #expect(status("parallel/test-worker-threads") == .pass)
        // Children: fork(2) under uv_spawn is denied → process, with the site of the call.
        for id in ["parallel/test-child-process-spawnsync", "parallel/test-child-process-exec", "sequential/test-exclusive-spawn"] {
            #expect(status(id) == .newFailure, "\(id)")
            #expect(primary(id) == "process", "\(id)")
            let first = results.test(id)?.attribution?.first
            #expect(first?.rule == "fork" && first?.errno == "EPERM", "\(id)")
            #expect(first?.site?.count == 16, "\(id): site \(first?.site ?? "nil")")
            #expect(first?.frames.contains { $0.symbol == "uv_spawn" } == true, "\(id)")
        }
        // WebAssembly: V8 maps W+X code space, denied with EACCES, V8 aborts (SIGTRAP) → wx.
        for id in ["parallel/test-wasm-add", "parallel/test-wasm-instantiate"] {
            #expect(status(id) == .newFailure, "\(id)")
            #expect(primary(id) == "wx", "\(id)")
            #expect(results.test(id)?.profile?.attempts.first?.outcome == .crash, "\(id)")
            #expect(results.test(id)?.profile?.attempts.first?.signal == "SIGTRAP", "\(id)")
        }
        #expect(status("parallel/test-flaky-once") == .flaky)
        #expect(results.test("parallel/test-flaky-once")?.native?.attempts.map(\.outcome) == [.fail, .pass])
        #expect(status("parallel/test-native-fail") == .baselineFail)
        #expect(status("parallel/test-assert-basic") == .pass)
        // Sequential tests hold one lock file: had two run at once, one would have failed natively.
        #expect(status("sequential/test-exclusive-plain") == .pass)
        #expect(status("sequential/test-exclusive-port") == .pass)
        #expect(results.totals.pass == 8 && results.totals.newFailure == 7 && results.totals.flaky == 1
                && results.totals.baselineFail == 1)
        #expect(results.totals.newFailuresByPrimary == [CategoryCount(category: "process", tests: 3),
                                                         CategoryCount(category: "tls", tests: 2),
                                                         CategoryCount(category: "wx", tests: 2)])
        // TLS as the target has it: a server only the test's own `ca:` trusts fails verification in the
        // trusted component.
        #expect(primary("parallel/test-tls-own-ca") == "tls")
        #expect(results.test("parallel/test-tls-own-ca")?.attribution?.first?.rule == "verification-failed")
        // …and the key its server reads from a file is the trusted component's.
        #expect(primary("parallel/test-tls-key-read") == "tls")
        #expect(results.test("parallel/test-tls-key-read")?.attribution?.first?.rule == "key-read")
        #expect(results.environment["NODE_OPTIONS"] == "--jitless")
    }

    @Test("serial tests never overlap any other run; the traces and logs are where the results say")
    func scheduleAndFiles() throws {
        let run = try NodeSuiteRun.get()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let runs = run.results.tests.flatMap { test in
            ((test.native?.attempts ?? []) + (test.profile?.attempts ?? [])).map { (test.serial, $0) }
        }
        for (serial, record) in runs where serial {
            let start = try #require(formatter.date(from: record.started))
            let end = start.addingTimeInterval(record.seconds)
            for (_, other) in runs where other.test != record.test || other.mode != record.mode || other.attempt != record.attempt {
                let otherStart = try #require(formatter.date(from: other.started))
                let otherEnd = otherStart.addingTimeInterval(other.seconds)
                #expect(otherEnd <= start.addingTimeInterval(0.05) || otherStart >= end.addingTimeInterval(-0.05),
                        "\(record.test) (\(record.mode)) overlaps \(other.test) (\(other.mode))")
            }
        }
        for test in run.results.tests {
            for attempt in test.profile?.attempts ?? [] {
                let trace = try #require(attempt.trace)
                #expect(FileManager.default.fileExists(atPath: run.directory + "/" + trace), "\(trace)")
                #expect(attempt.command.contains("--profile") && attempt.command.contains("microkernel"))
            }
            for attempt in (test.native?.attempts ?? []) + (test.profile?.attempts ?? []) {
                #expect(FileManager.default.fileExists(atPath: run.directory + "/" + (attempt.log ?? "-")))
            }
        }
        let runsFile = try String(contentsOfFile: run.directory + "/runs.jsonl", encoding: .utf8)
        let lines = runsFile.split(separator: "\n")
        #expect(lines.first?.contains("\"kind\":\"header\"") == true)
        #expect(lines.count == 1 + runs.count)
        #expect(!FileManager.default.fileExists(atPath: run.directory + "/tmp"))
    }

    @Test("junit.xml validates against the JUnit schema; the summary reads like the seed's table")
    func junitAndSummary() throws {
        let run = try NodeSuiteRun.get()
        let junit = run.directory + "/junit.xml"
        try expectValidJUnit(junit)
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.components(separatedBy: "<testcase ").count - 1 == 17)
        #expect(xml.contains("type=\"process\"") && xml.contains("type=\"wx\""))
        #expect(xml.contains("first blocked call: clone("))
        #expect(xml.contains("uv_spawn"))
        // The schema is really checked: a wrong type is refused.
        let broken = try Paths.temporaryDirectory("junit") + "/broken.xml"
        try xml.replacingOccurrences(of: "tests=\"17\"", with: "tests=\"seventeen\"").write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try Paths.run(["/usr/bin/xmllint", "--noout", "--schema", Paths.repo("Tests/Fixtures/junit.xsd"), broken])
        #expect(refused.status != 0)

        let summary = try String(contentsOfFile: run.directory + "/summary.md", encoding: .utf8)
        #expect(summary.contains("8 of 17 tests passed unmodified under microkernel; of the 7 new failures: "
                                 + "process 3, wx 2, tls 2, unattributed 0."))
        #expect(summary.contains("## Top sites by tests they break"))
        #expect(run.outcome.stdout.contains("8 of 17 tests passed unmodified under microkernel"))
    }

    @Test("--shard 1/3, 2/3, 3/3 then merge equals one unsharded run")
    func shardsMerge() throws {
        let base = try NodeSuiteRun.get().results
        let dir = try Paths.temporaryDirectory("shards")
        var shardIDs: [Set<String>] = []
        for k in 1...3 {
            let out = "\(dir)/shard\(k)"
            let outcome = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--profile", "microkernel", "--jobs", "2",
                                               "--shard", "\(k)/3", "--out", out, "--quiet"], environment: jitless)
            #expect(outcome.status == 0, "shard \(k): \(outcome.stderr)")
            shardIDs.append(Set(try Paths.results(out).tests.map(\.id)))
        }
        #expect(shardIDs[0].isDisjoint(with: shardIDs[1]) && shardIDs[1].isDisjoint(with: shardIDs[2]))
        #expect(shardIDs.reduce(Set()) { $0.union($1) } == Set(base.tests.map(\.id)))
        let merged = try Paths.strictrun(["conformance", "merge", "\(dir)/shard1", "\(dir)/shard2", "\(dir)/shard3",
                                          "--out", "\(dir)/merged"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let results = try Paths.results("\(dir)/merged")
        func verdicts(_ r: ConformanceResults) -> [String] {
            r.tests.map { test in
                [test.id, test.status.rawValue, test.native?.outcome.rawValue ?? "-", test.profile?.outcome.rawValue ?? "-",
                 test.attribution?.primary ?? "-", test.attribution?.categories.map(\.category).joined(separator: ",") ?? "-",
                 test.attribution?.first?.site ?? "-", test.flags.joined(separator: " ")].joined(separator: " | ")
            }
        }
        #expect(verdicts(results) == verdicts(base))
        #expect(results.totals.pass == base.totals.pass && results.totals.newFailure == base.totals.newFailure)
        #expect(results.totals.newFailuresByPrimary == base.totals.newFailuresByPrimary)
        #expect(results.mergedFrom?.count == 3 && results.complete)
        // The merged directory holds its traces.
        for test in results.tests {
            if let trace = test.profile?.attempts.first?.trace {
                #expect(FileManager.default.fileExists(atPath: "\(dir)/merged/\(trace)"), "\(trace)")
            }
        }
        try expectValidJUnit("\(dir)/merged/junit.xml")
        let summary = try String(contentsOfFile: "\(dir)/merged/summary.md", encoding: .utf8)
        #expect(summary.contains("8 of 17 tests passed unmodified under microkernel"))
        // Overlapping inputs are refused.
        let overlap = try Paths.strictrun(["conformance", "merge", "\(dir)/shard1", "\(dir)/shard1", "--out", "\(dir)/bad"])
        #expect(overlap.status == 2 && overlap.stderr.contains("overlapping"))
    }

    @Test("--baseline reuses an earlier run's native results: only the constrained pass runs")
    func baselineReuse() throws {
        let base = try NodeSuiteRun.get()
        let out = try Paths.temporaryDirectory("reuse") + "/out"
        let outcome = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--profile", "microkernel", "--jobs", "2",
                                           "--baseline", base.directory, "--filter", "assert-basic|spawnsync|native-fail",
                                           "--out", out], environment: jitless)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("native: "), "a native pass ran: \(outcome.stderr)")
        let results = try Paths.results(out)
        #expect(results.tests.count == 3)
        for test in results.tests {
            let reused = test.native?.attempts ?? []
            #expect(!reused.isEmpty && reused.allSatisfy { $0.reusedFrom == base.directory }, "\(test.id)")
            #expect(test.status == base.results.test(test.id)?.status, "\(test.id)")
        }
        #expect(results.test("parallel/test-native-fail")?.native?.attempts.count == 2)
        #expect(!FileManager.default.fileExists(atPath: out + "/logs/parallel/test-assert-basic.native.log"))
    }

    @Test("--expect: 0 when the run matches, 1 after a test is changed to fail or a listed test passes")
    func expectations() throws {
        let dir = try Paths.temporaryDirectory("expect")
        let root = dir + "/node-suite"
        try Paths.copyTree(Paths.nodeFixtures, to: root)
        let expectFile = dir + "/microkernel.expect"
        let base = ["conformance", "run", Paths.nodeSuite, "--root", root, "--profile", "microkernel", "--jobs", "2",
                    "--filter", "assert-basic|buffer-concat|spawnsync|native-fail", "--quiet"]
        let write = try Paths.strictrun(base + ["--out", dir + "/1", "--expect", expectFile, "--update-expectations"],
                                        environment: jitless)
        #expect(write.status == 0, "\(write.stdout)\(write.stderr)")
        let written = try String(contentsOfFile: expectFile, encoding: .utf8)
        #expect(written.contains("parallel/test-child-process-spawnsync") && written.contains("process/fork"))
        #expect(written.contains("parallel/test-native-fail"))
        #expect(!written.contains("test-assert-basic"))

        let match = try Paths.strictrun(base + ["--out", dir + "/2", "--expect", expectFile], environment: jitless)
        #expect(match.status == 0, "\(match.stdout)\(match.stderr)")
        #expect(match.stdout.contains("expectations: \(expectFile): matched"))

        // A test changed to fail: a new failure (it fails natively too; still not in the file).
        let test = root + "/parallel/test-assert-basic.js"
        try (String(contentsOfFile: test, encoding: .utf8) + "\nprocess.exitCode = 3;\n").write(toFile: test, atomically: true, encoding: .utf8)
        let failing = try Paths.strictrun(base + ["--out", dir + "/3", "--expect", expectFile], environment: jitless)
        #expect(failing.status == 1, "\(failing.stdout)\(failing.stderr)")
        #expect(failing.stdout.contains("new failure: parallel/test-assert-basic"))

        // A listed test that passes: an unexpected pass.
        try (written + "parallel/test-buffer-concat fail # wrongly listed\n").write(toFile: expectFile, atomically: true, encoding: .utf8)
        let unexpected = try Paths.strictrun(base + ["--out", dir + "/4", "--expect", expectFile,
                                                     "--filter", "buffer-concat|spawnsync|native-fail"], environment: jitless)
        #expect(unexpected.status == 1)
        #expect(unexpected.stdout.contains("unexpected pass: parallel/test-buffer-concat"))
    }
}

/// `xmllint --schema Tests/Fixtures/junit.xsd FILE` succeeds (libxml2's XML Schema validator).
func expectValidJUnit(_ path: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/xmllint") else {
        Issue.record("xmllint is missing: install libxml2-utils (make deps)", sourceLocation: sourceLocation)
        return
    }
    let check = try Paths.run(["/usr/bin/xmllint", "--noout", "--schema", Paths.repo("Tests/Fixtures/junit.xsd"), path])
    #expect(check.status == 0, "\(path) does not validate: \(check.stderr)", sourceLocation: sourceLocation)
}
