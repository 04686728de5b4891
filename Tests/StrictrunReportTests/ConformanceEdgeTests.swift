import Foundation
import StrictrunConformance
import StrictrunResults
import Testing

/// Bad input, timeouts, Ctrl-C, and CPython's own regression tests.
@Suite("conformance: input, timeouts, interrupts, CPython", .serialized)
struct ConformanceEdgeTests {
    /// Write `files` (relative path → text) under a fresh directory.
    func tree(_ files: [String: String]) throws -> String {
        let dir = try Paths.temporaryDirectory("suite")
        for (path, text) in files {
            let url = URL(fileURLWithPath: dir + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return dir
    }

    @Test("bad suite file, missing command, empty test set, bad shard or profile: a clear message and exit 2")
    func badInput() throws {
        let dir = try tree([
            "unknown-key.yaml": "name: x\ntests:\n  files: ['*.py']\ncommand: python3 {file}\ngroups:\n  - name: a\n    match: a/*\n    serail: true\n",
            "bad-placeholder.yaml": "tests: {list: [a]}\ncommand: \"run {nmae}\"\n",
            "no-command.yaml": "tests: {list: [a, b]}\ncommand: [/nonexistent/runner, '{name}']\n",
            "empty.yaml": "tests: {files: ['tests/*.py']}\ncommand: python3 {file}\n",
            "yaml-error.yaml": "tests: [a\ncommand: x\n",
            "ok.yaml": "tests: {list: [a]}\ncommand: /bin/true\n",
        ])
        let cases: [(String, [String], [String])] = [
            ("unknown key", ["\(dir)/unknown-key.yaml"], ["unknown-key.yaml:8:5", "key 'groups[0].serail'", "unknown key"]),
            ("placeholder", ["\(dir)/bad-placeholder.yaml"], ["bad-placeholder.yaml:2:10", "key 'command'", "unknown placeholder '{nmae}'"]),
            ("command", ["\(dir)/no-command.yaml"], ["/nonexistent/runner", "cannot run", "No such file"]),
            ("empty", ["\(dir)/empty.yaml"], ["no tests found"]),
            ("yaml", ["\(dir)/yaml-error.yaml"], ["yaml-error.yaml:", "YAML"]),
            ("missing file", ["\(dir)/nope.yaml"], ["nope.yaml", "cannot read"]),
            ("shard", ["\(dir)/ok.yaml", "--shard", "4/3"], ["--shard 4/3"]),
            ("profile", ["\(dir)/ok.yaml", "--profile", "no-such-profile"], ["bad profile"]),
        ]
        for (name, arguments, needles) in cases {
            let outcome = try Paths.strictrun(["conformance", "run"] + arguments + ["--out", dir + "/out-\(name.replacingOccurrences(of: " ", with: "-"))"])
            #expect(outcome.status == 2, "\(name): \(outcome.status) \(outcome.stderr)")
            for needle in needles { #expect(outcome.stderr.contains(needle), "\(name): \(outcome.stderr)") }
        }
    }

    @Test("a test past its timeout is killed with its whole process group, in both modes")
    func timeout() throws {
        let dir = try tree([
            "hang.py": """
                import os, subprocess, sys, time
                child = subprocess.Popen(["sleep", "300"])      # vfork+exec: allowed by microkernel
                with open(os.environ["PIDFILE"] + "." + sys.argv[1], "w") as f:
                    f.write(str(child.pid))
                time.sleep(300)
                """,
            "suite.yaml": "tests: {list: [hang]}\ncommand: '{python} {root}/hang.py {mode}'\n"
                + "variables: {python: \(Paths.python)}\nenv: {PIDFILE: '{root}/child'}\ntimeout: 2\nretries: 0\n",
        ])
        let outcome = try Paths.strictrun(["conformance", "run", dir + "/suite.yaml", "--out", dir + "/out", "--quiet"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let results = try Paths.results(dir + "/out")
        let test = try #require(results.test("hang"))
        #expect(test.native?.outcome == .timeout)
        #expect(test.profile?.outcome == .timeout)
        #expect(test.status == .baselineFail)
        for mode in ["native", "profile"] {
            let pid = try #require(Int32(String(contentsOfFile: "\(dir)/child.\(mode)", encoding: .utf8)))
            // The grandchild `sleep 300` is gone (or a zombie about to be reaped by init).
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?
                .split(separator: ")").last?.split(separator: " ").first
            #expect(state == nil || state == "Z", "\(mode): sleep \(pid) still running (state \(state ?? "?"))")
        }
    }

    @Test("skip-exit-codes: a test that skips itself natively is skipped, not failed, and not retried")
    func skipped() throws {
        let dir = try tree([
            "suite.yaml": "tests: {list: [skipper, passer]}\n"
                + "command: [\(Paths.python), -c, 'import sys; sys.exit(4 if \"{name}\" == \"skipper\" else 0)']\n"
                + "skip-exit-codes: [4]\n",
        ])
        let outcome = try Paths.strictrun(["conformance", "run", dir + "/suite.yaml", "--out", dir + "/out", "--quiet"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let results = try Paths.results(dir + "/out")
        #expect(results.test("skipper")?.status == .skipped)
        #expect(results.test("skipper")?.native?.attempts.map(\.outcome) == [.skip])
        #expect(results.test("passer")?.status == .pass)
        #expect(results.totals.skipped == 1 && results.totals.pass == 1)
        try expectValidJUnit(dir + "/out/junit.xml")
    }

    @Test("Ctrl-C stops the run, kills the running test and writes what finished (exit 130); one run per directory")
    func interrupt() throws {
        let dir = try tree([
            "suite.yaml": "tests: {list: [a, b, c, d, e, f, g, h]}\ncommand: [/bin/sleep, '1']\n",
        ])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.strictrun)
        process.arguments = ["conformance", "run", dir + "/suite.yaml", "--jobs", "1", "--out", dir + "/out", "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for the first finished run, then interrupt.
        let runs = dir + "/out/runs.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let lines = ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
            if lines >= 2 { break }
            usleep(50_000)
        }
        // A second run into the same directory is refused while the first writes it.
        let second = try Paths.strictrun(["conformance", "run", dir + "/suite.yaml", "--out", dir + "/out", "--quiet"])
        #expect(second.status == 2 && second.stderr.contains("being written by another"), "\(second.stderr)")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let results = try Paths.results(dir + "/out")
        #expect(results.interrupted && !results.complete)
        let finished = results.tests.filter { $0.native != nil }.count
        #expect(finished >= 1 && finished < 8)
        #expect(results.tests.filter { $0.status == .incomplete }.count >= 1)
        let summary = try String(contentsOfFile: dir + "/out/summary.md", encoding: .utf8)
        #expect(summary.contains("Incomplete run"))
    }

    @Test("CPython's own tests: fork-based modules are attributed to process; JUnit is valid")
    func cpython() throws {
        let dir = try Paths.temporaryDirectory("cpython")
        let outcome = try Paths.strictrun(["conformance", "run", Paths.repo("Suites/cpython.yaml"), "--profile", "microkernel",
                                           "--filter", "^test_(fork1|pty|wait3|bisect)$", "--jobs", "2", "--out", dir + "/out"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let results = try Paths.results(dir + "/out")
        #expect(results.tests.map(\.id) == ["test_bisect", "test_fork1", "test_pty", "test_wait3"])
        for id in ["test_fork1", "test_pty", "test_wait3"] {
            let test = try #require(results.test(id))
            #expect(test.status == .newFailure, "\(id): \(test.status)")
            #expect(test.attribution?.primary == "process", "\(id)")
            #expect(test.attribution?.first?.errno == "EPERM", "\(id)")
        }
        #expect(results.test("test_bisect")?.status == .pass)
        #expect(outcome.stdout.contains("1 of 4 tests passed unmodified under microkernel; of the 3 new failures: process 3"))
        try expectValidJUnit(dir + "/out/junit.xml")
    }
}

/// The pure pieces, in process: templates, globs, shards, suite errors, expectations.
@Suite("conformance: parts")
struct ConformancePartsTests {
    @Test("command templates split like a shell, placeholders fill in, {flags} becomes words")
    func templates() throws {
        let template = try Template(commandLine: #"{node} {flags} "{file}" -e 'print({})' x\ y"#)
        #expect(template.expand(["node": "/usr/bin/node", "file": "/a b/t.js"], lists: ["flags": ["--a", "--b"]])
                == ["/usr/bin/node", "--a", "--b", "/a b/t.js", "-e", "print({})", "x y"])
        #expect(template.expand(["node": "n", "file": "f"], lists: ["flags": []]) == ["n", "f", "-e", "print({})", "x y"])
        #expect(template.placeholders == ["node", "flags", "file"])
        #expect(throws: TemplateError.self) { try Template(commandLine: "node 'unterminated") }
        #expect(Template(value: "--x={flags}").expandValue([:], lists: ["flags": ["a", "b"]]) == "--x=a b")
    }

    @Test("globs: *, ?, [..], ** across directories")
    func globs() {
        #expect(Glob("parallel/test-*.js").matches("parallel/test-fs.js"))
        #expect(!Glob("parallel/test-*.js").matches("parallel/sub/test-fs.js"))
        #expect(Glob("**/test-*.js").matches("test-a.js") && Glob("**/test-*.js").matches("a/b/test-a.js"))
        #expect(Glob("test_[a-c]?").matches("test_b1") && !Glob("test_[!a-c]?").matches("test_b1"))
        #expect(Glob("parallel/test-*.js").literalDirectory == "parallel")
    }

    @Test("shards are disjoint, cover the suite, and do not depend on the order tests were found in")
    func shards() {
        let tests = (0..<17).map { PlannedTest(id: "t\($0)", path: nil, flags: [], group: "g", serial: false, timeout: 1) }
        let shards = (1...4).map { Shard(index: $0, count: 4).select(tests.shuffled()) }
        #expect(Set(shards.flatMap { $0.map(\.id) }) == Set(tests.map(\.id)))
        #expect(shards.map(\.count).reduce(0, +) == 17)
        #expect(Shard(index: 2, count: 4).select(tests).map(\.id) == Shard(index: 2, count: 4).select(tests.reversed()).map(\.id))
        #expect(Shard("0/3") == nil && Shard("4/3") == nil && Shard("2/3") == Shard(index: 2, count: 3))
    }

    @Test("suite errors carry file, line, column and key")
    func suiteErrors() throws {
        let dir = try Paths.temporaryDirectory("parts")
        let file = dir + "/s.yaml"
        try "tests:\n  files: ['*.js']\ncommand: node {file}\ntimeout: soon\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect {
            try SuiteLoader(environment: [:]).load(path: file)
        } throws: { error in
            let error = error as? SuiteError
            return error?.line == 4 && error?.key == "timeout" && error?.file == file
                && error?.description.contains("s.yaml:4:10: key 'timeout'") == true
        }
    }

    @Test("attribution reads a trace: the first blocked call, every category; the TLS broker's failures count as tls")
    func digest() throws {
        let path = try Paths.temporaryDirectory("parts") + "/t.jsonl"
        try tlsTrace().write(toFile: path, atomically: true, encoding: .utf8)
        let digest = try TraceDigest.read(path: path)
        #expect(digest.blocked == 2 && digest.logged == 1 && digest.complete && digest.exitStatus == 1)
        #expect(digest.first?.category == "tls" && digest.first?.rule == "verification-failed")
        #expect(digest.first?.oneLine.contains("sni=example.com") == true)
        #expect(digest.categories.map(\.category) == ["tls", "process"])
        #expect(Classifier.attribution(digest).primary == "tls")
    }

    @Test("expectations: parse, gate and rewrite")
    func expectationFile() throws {
        let dir = try Paths.temporaryDirectory("parts")
        let file = dir + "/e.expect"
        try "# known\nparallel/a   fail  # forks\nparallel/b flaky\n\nparallel/c\n".write(toFile: file, atomically: true, encoding: .utf8)
        let expectations = try Expectations.read(path: file)
        #expect(expectations.order == ["parallel/a", "parallel/b", "parallel/c"])
        #expect(expectations.entries["parallel/a"]?.reason == "forks")
        #expect(expectations.entries["parallel/b"]?.kind == .flaky)
        try "parallel/a sometimes\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: ConformanceError.self) { try Expectations.read(path: file) }
    }
}
