import Foundation
import StrictrunConformance
import StrictrunReport
import StrictrunResults
import Testing

/// `strictrun conformance explore` as a user runs it, on real Node tests: one conformance run of
/// Suites/explore-fixtures.yaml under its target profile, explored; each test gets the verdict its
/// code earns, in explore.json, results.json, summary.md and the report; the plan's SARIF
/// validates against the official schema; an interrupted explore resumes to the same results.
@Suite("conformance explore", .serialized)
struct ExploreTests {
    static let profile = Paths.repo("Tests/Fixtures/explore-suite/explore-target.yaml")
    static let suite = Paths.repo("Suites/explore-fixtures.yaml")

    /// The conformance run every test explores a copy of.
    static let conformance: Result<String, Failure> = {
        do {
            let directory = try Paths.temporaryDirectory("explore-conf") + "/out"
            let outcome = try Paths.strictrun(["conformance", "run", suite, "--profile", profile, "--jobs", "2",
                                               "--out", directory, "--quiet"])
            guard outcome.status == 0 else { return .failure(Failure(message: "conformance: \(outcome.status) \(outcome.stderr)")) }
            return .success(directory)
        } catch {
            return .failure(Failure(message: "\(error)"))
        }
    }()

    /// A copy of the conformance run, for one explore to write into.
    static func copy(_ name: String) throws -> String {
        let destination = try Paths.temporaryDirectory(name) + "/out"
        try Paths.copyTree(try conformance.get(), to: destination)
        return destination
    }

    /// One uninterrupted explore, shared by the tests that read it.
    static let explored: Result<(String, Outcome), Failure> = {
        do {
            let directory = try copy("explore")
            let outcome = try Paths.strictrun(["conformance", "explore", directory, "--jobs", "2", "--quiet"])
            guard outcome.status == 0 else { return .failure(Failure(message: "explore: \(outcome.status) \(outcome.stderr)")) }
            return .success((directory, outcome))
        } catch {
            return .failure(Failure(message: "\(error)"))
        }
    }()

    static func load(_ directory: String) throws -> ExploreResults {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/explore/explore.json"))
        return try JSONDecoder().decode(ExploreResults.self, from: data)
    }

    /// Test id → (verdict, rule, answer).
    static func table(_ results: ExploreResults) -> [String: String] {
        Dictionary(uniqueKeysWithValues: results.verdicts.map {
            ($0.test, "\($0.kind.rawValue) \($0.rule ?? "-") \($0.answer ?? "-")")
        })
    }

    @Test("each new failure gets the verdict its code earns, with the run that proves it")
    func verdicts() throws {
        let (directory, outcome) = try Self.explored.get()
        let explore = try Self.load(directory)
        #expect(explore.complete && !explore.interrupted)
        #expect(Self.table(explore) == [
            "parallel/test-fs-copyfile": "errno-enough fs/copy-file-range ENOSYS",
            "parallel/test-fs-chmod-keep": "noop-enough fs/chmod noop",
            "parallel/test-child-process-spawnsync": "needs-allow process/fork allow",
            "parallel/test-chmod-then-spawn": "several-sites fs/chmod allow",
            // V8 maps W+X code at two sites; each alone still crashes.
            "parallel/test-jit-regexp": "several-sites wx/wx-simultaneous allow",
        ])
        // Only new failures were re-run; test-plain never appears.
        #expect(!explore.verdicts.contains { $0.test == "parallel/test-plain" })
        let several = explore.verdicts.first { $0.test == "parallel/test-chmod-then-spawn" }
        // The fork site was hidden behind chmod in the conformance trace: a noop run revealed it.
        #expect(several?.sites?.count == 2)
        for verdict in explore.verdicts {
            let log = try #require(verdict.evidenceLog, "\(verdict.test)")
            #expect(FileManager.default.fileExists(atPath: directory + "/" + log), "\(log)")
        }
        // Ablation: lifting fork gives back the spawn test; lifting chmod the chmod test.
        let ablation = Dictionary(uniqueKeysWithValues: explore.ablation.map { ($0.rule, $0.regained.sorted()) })
        #expect(ablation["process/fork"] == ["parallel/test-child-process-spawnsync"])
        #expect(ablation["fs/chmod"] == ["parallel/test-fs-chmod-keep"])
        #expect(ablation["fs/copy-file-range"] == ["parallel/test-fs-copyfile"])
        // JIT: the W^X crash passes under microkernel-jit.
        #expect(explore.jit?.profile == "microkernel-jit" && explore.jit?.regained == ["parallel/test-jit-regexp"])
        // The plan: one line per site, each with its owner and answer.
        let plan = Dictionary(uniqueKeysWithValues: explore.plan.map { ($0.rule, $0) })
        #expect(plan["fs/copy-file-range"]?.answer == "ENOSYS")
        #expect(plan["fs/copy-file-range"]?.function.hasPrefix("uv__") == true, "\(plan["fs/copy-file-range"]?.function ?? "")")
        #expect(plan["process/fork"]?.function == "uv_spawn" || plan["process/fork"]?.function.hasPrefix("uv__") == true)
        #expect(outcome.stdout.contains("porting plan (sites by tests regained):"))
        #expect(outcome.stdout.contains("W^X emulation (microkernel-jit) gives back 1 test"))
    }

    @Test("results.json, summary.md and the report take explore's verdict as the attribution, first blocked kept")
    func attribution() throws {
        let (directory, _) = try Self.explored.get()
        let results = try Paths.results(directory)
        let copy = try #require(results.test("parallel/test-fs-copyfile")?.attribution)
        #expect(copy.explored?.verdict == .errnoEnough && copy.explored?.answer == "ENOSYS")
        #expect(copy.primary == "fs" && copy.firstBlocked == "fs")
        #expect(results.test("parallel/test-chmod-then-spawn")?.attribution?.explored?.verdict == .severalSites)
        #expect(results.test("parallel/test-fs-chmod-keep")?.attribution?.explored?.verdict == .noopEnough)
        #expect(results.test("parallel/test-child-process-spawnsync")?.attribution?.explored?.verdict == .needsAllow)
        let summary = try String(contentsOfFile: directory + "/summary.md", encoding: .utf8)
        #expect(summary.contains("| test | under `explore-target` | attribution (explore) | first blocked call | categories |"))
        #expect(summary.contains("errno is enough: the runtime falls back"))
        #expect(summary.contains("a no-op is enough"))
        #expect(summary.contains("needs the call: only allowing it passes"))
        #expect(summary.contains("needs several sites at once"))
        #expect(summary.contains("## Explore: what would make each new failure pass"))
        #expect(summary.contains("W^X emulation (microkernel-jit) gives back 1 test: the JIT rework must carry them"))
        for format in ["html", "md", "json"] {
            let out = directory + "/report.\(format)"
            let report = try Paths.strictrun(["report", directory, "--format", format, "--out", out])
            #expect(report.status == 0, "\(report.stderr)")
            let text = try String(contentsOfFile: out, encoding: .utf8)
            #expect(text.contains("errno-enough") && text.contains("noop-enough") && text.contains("needs-allow")
                    && text.contains("several-sites"), "\(format)")
            if format == "html" {
                #expect(text.contains("id=\"explore-sites\"") && text.contains("id=\"explore-rules\""))
                #expect(attributeValues("data-verdict", in: text[...], marker: "data-verdict").sorted()
                        == ["errno-enough", "needs-allow", "noop-enough", "several-sites", "several-sites"])
            }
        }
    }

    @Test("the plan's SARIF validates against the official SARIF 2.1.0 schema")
    func sarif() throws {
        let (directory, _) = try Self.explored.get()
        let sarif = directory + "/explore/plan.sarif"
        let schema = Paths.repo("Tests/Fixtures/sarif/sarif-schema-2.1.0.json")
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1])); log = json.load(open(sys.argv[2]))
            jsonschema.Draft4Validator.check_schema(schema)
            errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(log), key=str)
            for e in errors: print(list(e.absolute_path), e.message)
            print("results", len(log["runs"][0]["results"]))
            sys.exit(1 if errors else 0)
            """
        let check = try Paths.run(["/usr/bin/env", "python3", "-c", script, schema, sarif])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let explore = try Self.load(directory)
        #expect(check.stdout.contains("results \(explore.plan.count)"))
        // One result per site, its stack a code flow.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sarif))) as? [String: Any]
        let results = ((json?["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]]) ?? []
        #expect(results.count == explore.plan.count && !results.isEmpty)
        #expect(results.allSatisfy { ($0["codeFlows"] as? [Any])?.isEmpty == false })
        // The validator is not blind: a log without its version fails.
        let broken = directory + "/explore/broken.sarif"
        try String(contentsOfFile: sarif, encoding: .utf8).replacingOccurrences(of: "\"version\" : \"2.1.0\"", with: "\"version\" : \"9\"")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        #expect(try Paths.run(["/usr/bin/env", "python3", "-c", script, schema, broken]).status == 1)
    }

    @Test("Ctrl-C (SIGINT) stops an explore; run again, it resumes from runs.jsonl to the same results")
    func resume() throws {
        let (reference, _) = try Self.explored.get()
        let expected = try Self.load(reference)
        let directory = try Self.copy("explore-resume")
        let journal = directory + "/explore/runs.jsonl"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.strictrun)
        process.arguments = ["conformance", "explore", directory, "--jobs", "2", "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until a few runs are in the journal, then interrupt.
        let deadline = Date().addingTimeInterval(120)
        func runLines() -> Int {
            ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { $0.contains("\"kind\":\"run\"") }.count
        }
        while runLines() < 3 && process.isRunning && Date() < deadline { usleep(20_000) }
        #expect(process.isRunning, "explore ended before it could be interrupted")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let partial = try Self.load(directory)
        #expect(partial.interrupted && !partial.complete)
        let before = runLines()
        #expect(before < expected.runs)
        let again = try Paths.strictrun(["conformance", "explore", directory, "--jobs", "2", "--quiet"])
        #expect(again.status == 0, "\(again.stderr)")
        let resumed = try Self.load(directory)
        #expect(resumed.complete && resumed.runsReused == before)
        #expect(resumed.runsReused + resumed.runs == expected.runs)
        #expect(Self.table(resumed) == Self.table(expected))
        #expect(resumed.plan.map { "\($0.site) \($0.answer) \($0.tests)" } == expected.plan.map { "\($0.site) \($0.answer) \($0.tests)" })
        #expect(resumed.ablation.map { "\($0.rule) \($0.regained)" } == expected.ablation.map { "\($0.rule) \($0.regained)" })
    }

    @Test("Node fixture suite under microkernel: spawn needs fork at uv_spawn; W^X emulation gives WebAssembly back")
    func nodeFixtures() throws {
        let run = try NodeSuiteRun.get()
        let directory = try Paths.temporaryDirectory("explore-node") + "/out"
        try Paths.copyTree(run.directory, to: directory)
        let outcome = try Paths.strictrun(["conformance", "explore", directory, "--jobs", "2", "--quiet"], environment: jitless)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let explore = try Self.load(directory)
        let table = Self.table(explore)
        for id in ["parallel/test-child-process-spawnsync", "parallel/test-child-process-exec", "sequential/test-exclusive-spawn"] {
            #expect(table[id] == "needs-allow process/fork allow", "\(id): \(table[id] ?? "nil")")
        }
        // spawnSync and the asynchronous spawn reach fork(2) by two call paths: two sites, both in uv_spawn.
        let forks = explore.plan.filter { $0.rule == "process/fork" }
        #expect(forks.reduce(0) { $0 + $1.tests.count } == 3)
        #expect(!forks.isEmpty && forks.allSatisfy { $0.function == "uv_spawn" && $0.answer == "allow" }, "\(forks.map(\.function))")
        #expect(Set(explore.jit?.regained ?? []) == ["parallel/test-wasm-add", "parallel/test-wasm-instantiate"])
    }

    @Test("CPython's slice under genode: socketpair needs the call, asyncio streams need several sites, a read-only image nothing helps")
    func cpythonSlice() throws {
        let base = try Paths.temporaryDirectory("explore-cpython")
        let directory = base + "/out"
        // genode without its key check: test_streams' TLS cases load their key files, which
        // tls/key-read refuses under genode (then no set of net sites makes it pass); this test is
        // about the net and fs rules.
        let profile = base + "/genode-without-key-check.yaml"
        try "extends: genode\ntls:\n  keys: allow\n".write(toFile: profile, atomically: true, encoding: .utf8)
        let run = try Paths.strictrun(["conformance", "run", Paths.repo("Suites/cpython-all.yaml"), "--profile", profile,
                                       "--filter", #"^(test_asyncgen|test_bdb|test\.test_asyncio\.test_streams)$"#,
                                       "--jobs", "2", "--out", directory, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let outcome = try Paths.strictrun(["conformance", "explore", directory, "--jobs", "2", "--quiet"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let table = Self.table(try Self.load(directory))
        // asyncio's event loop makes its self-pipe with socketpair(2): no errno or no-op stands in.
        #expect(table["test_asyncgen"] == "needs-allow net/socketpair allow", "\(table)")
        #expect(table["test.test_asyncio.test_streams"]?.hasPrefix("several-sites") == true, "\(table)")
        // test_bdb writes a module into the standard library's directory, which genode serves
        // read-only: the mount's answer, not a call site's, so no answer at a site helps.
        #expect(table["test_bdb"]?.hasPrefix("nothing-helps") == true, "\(table)")
        let results = try Paths.results(directory)
        #expect(results.test("test_asyncgen")?.attribution?.primary == "net")
    }
}
