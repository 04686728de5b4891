import Foundation
import StrictrunConformance
import StrictrunResults
import StrictrunReport
import Testing

/// `strictrun report` on real traces and a real conformance run.
@Suite("report", .serialized)
struct ReportTests {
    /// A JSON report of `arguments` (inputs and options), decoded.
    func jsonReport(_ arguments: [String]) throws -> (Report, Outcome) {
        let outcome = try Paths.strictrun(["report"] + arguments + ["--format", "json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        return (try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8)), outcome)
    }

    @Test("the HTML report of a conformance run renders in headless Chromium: summary table, charts with bars, sites")
    func htmlInChromium() throws {
        let run = try NodeSuiteRun.get()
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile)
        else {
            Issue.record("chromium is missing: install it (make deps installs the Debian package 'chromium')")
            return
        }
        let html = Paths.products.appendingPathComponent("report-conformance.html").path
        let written = try Paths.strictrun(["report", run.directory, "--out", html])
        #expect(written.status == 0, "\(written.stderr)")
        let (report, _) = try jsonReport([run.directory])
        let profileDir = try Paths.temporaryDirectory("chromium")
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profileDir)"]
        let dom = try Paths.run([chromium] + flags + ["--dump-dom", "file://\(html)"], timeout: 120)
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(2000))")
        let text = dom.stdout
        // The summary table, with the counts of the JSON report.
        let summary = try #require(section(text, from: "<table id=\"summary\"", to: "</table>"), "no summary table in the DOM")
        for (measure, value) in [("tests", 17), ("pass unmodified under microkernel", 8), ("new failures", 7),
                                 ("sites", report.sites.count)] {
            #expect(summary.contains("<td>\(measure)</td><td class=\"n\">\(value)</td>"), "summary row \(measure)")
        }
        #expect(text.contains("8 of 17 tests passed unmodified under microkernel"))
        // The category chart: one bar per category, heights = new failures by first blocked call.
        let categories = try #require(section(text, from: "id=\"chart-categories\"", to: "</svg>"), "no category chart")
        let values = attributeValues("data-value", in: categories, marker: "class=\"bar\"")
        let names = attributeValues("data-category", in: categories, marker: "class=\"bar\"")
        #expect(Dictionary(uniqueKeysWithValues: zip(names, values)) == ["process": "3", "wx": "2", "tls": "2", "unattributed": "0"])
        // The site chart: a bar per site (all 3 here), values = tests each breaks.
        let sites = try #require(section(text, from: "id=\"chart-sites\"", to: "</svg>"), "no site chart")
        let siteValues = attributeValues("data-value", in: sites, marker: "class=\"bar\"").compactMap(Int.init)
        #expect(siteValues == report.sites.prefix(10).map(\.testsBroken))
        // uv_spawn twice, V8's allocator, the connect the broker refused (test-tls-own-ca; the same site
        // mediates test-exclusive-port's plain stream, which it does not break), the key file's open.
        #expect(siteValues.count == 5 && siteValues.reduce(0, +) == 7)
        #expect(text.contains("id=\"chart-components\""))
        // Each site expandable to its stack.
        #expect(text.components(separatedBy: "<details class=\"site\"").count - 1 == report.sites.count)
        #expect(text.contains("uv_spawn") && text.contains("v8::base::OS::SetPermissions"))
        // No network: nothing external is referenced.
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(!page.contains("<script"))
        #expect(!page.contains("src=") && !page.contains("href=\"http") && !page.contains("@import") && !page.contains("url("))

        // A screenshot, kept as a CI artifact.
        let png = Paths.products.appendingPathComponent("report-conformance.png").path
        try? FileManager.default.removeItem(atPath: png)
        let shot = try Paths.run([chromium] + flags + ["--window-size=1280,2400", "--screenshot=\(png)", "file://\(html)"],
                                 timeout: 120)
        #expect(shot.status == 0 && FileManager.default.fileExists(atPath: png), "screenshot: \(shot.stderr.suffix(1000))")
        print("report screenshot: \(png)  (HTML: \(html))")
    }

    @Test("Markdown and JSON reports of the same input agree on every count")
    func markdownMatchesJSON() throws {
        let run = try NodeSuiteRun.get()
        let trace = try pythonForkTrace(fork: true)
        for inputs in [[run.directory], [trace]] {
            let (report, _) = try jsonReport(inputs)
            let markdown = try Paths.strictrun(["report"] + inputs + ["--format", "md"])
            #expect(markdown.status == 0)
            let rows = tableRows(markdown.stdout)
            // Summary.
            var summary: [String: Int] = [:]
            for row in rows where row.count == 2 { summary[row[0]] = Int(row[1]) }
            #expect(summary["events"] == report.totals.events)
            #expect(summary["policy events"] == report.totals.policyEvents)
            #expect(summary["blocked calls"] == report.totals.blocked)
            #expect(summary["processes"] == report.totals.processes)
            #expect(summary["sites"] == report.sites.count)
            if let c = report.conformance {
                #expect(summary["tests"] == c.tests && summary["new failures"] == c.newFailures && summary["flaky"] == c.flaky)
                #expect(markdown.stdout.contains(c.headline))
            }
            // Categories: every number of every row.
            let categoryRows = rows.filter { $0.count == 7 && report.categories.map(\.category).contains($0[0]) }
            #expect(categoryRows.count == report.categories.count)
            for row in categoryRows {
                let c = try #require(report.categories.first { $0.category == row[0] })
                #expect(row[1...].compactMap { Int($0) } == [c.newFailuresPrimary, c.testsBroken, c.blocked, c.events, c.sites, c.processes])
            }
            // Sites: rank, counts, component, owner.
            let siteRows = rows.filter { $0.count == 10 && Int($0[0]) != nil }
            #expect(siteRows.count == report.sites.count)
            for row in siteRows {
                let id = row[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                let site = try #require(report.sites.first { $0.id == id })
                #expect(Int(row[0]) == site.rank)
                #expect(row[3...7].compactMap { Int($0) } == [site.testsBrokenPrimary, site.testsBroken, site.tests, site.events, site.processes])
                #expect(row[8] == site.component)
            }
            // Components.
            for component in report.components {
                #expect(rows.contains { $0.count == 5 && $0[0] == component.name && $0[1] == String(component.sites)
                    && $0[2] == String(component.testsBroken) && $0[3] == String(component.events) })
            }
        }
    }

    @Test("site ranking and components: uv_spawn (node · uv_) and V8's allocator (node · v8::) with the tests they break")
    func ranking() throws {
        let run = try NodeSuiteRun.get()
        let (report, _) = try jsonReport([run.directory])
        #expect(report.kind == "conformance")
        #expect(report.conformance?.newFailures == 7)
        let process = report.sites(in: "process")
        #expect(process.map(\.testsBroken).reduce(0, +) == 3)
        #expect(process.allSatisfy { $0.owner?.symbol == "uv_spawn" && $0.component == "node · uv_" })
        let wx = try #require(report.sites(in: "wx").first)
        #expect(wx.testsBroken == 2 && wx.testsBrokenPrimary == 2 && wx.component == "node · v8::")
        #expect(wx.firstEvent?.args != nil && wx.frames.count > 5)
        #expect(Set(wx.testList) == ["parallel/test-wasm-add", "parallel/test-wasm-instantiate"])
        let uv = try #require(report.components.first { $0.name == "node · uv_" })
        // uv_spawn twice, uv__tcp_connect (test-tls-own-ca), uv_fs_open of the key (test-tls-key-read).
        #expect(uv.sites == 4 && uv.testsBroken == 5)
        #expect(report.categories.first { $0.category == "process" }?.newFailuresPrimary == 3)
    }

    @Test("a trace with a truncated last line is reported and the line skipped; a file that is not a trace is refused")
    func truncatedAndInvalid() throws {
        let trace = try pythonForkTrace(fork: true)
        let (complete, _) = try jsonReport([trace])
        let truncated = try Paths.temporaryDirectory("truncated") + "/truncated.jsonl"
        let text = try String(contentsOfFile: trace, encoding: .utf8)
        try (text + #"{"v":1,"seq":99,"time":"2026-01-01T00:00:00Z","type":"policy","pid":1,"sysc"#)
            .write(toFile: truncated, atomically: true, encoding: .utf8)
        let (report, outcome) = try jsonReport([truncated])
        #expect(report.inputs.first?.truncatedLastLines == 1)
        #expect(report.problems.contains { $0.contains("truncated") })
        #expect(outcome.stderr.contains("truncated"))
        #expect(report.totals.policyEvents == complete.totals.policyEvents)
        #expect(report.sites.map(\.id) == complete.sites.map(\.id))

        let notATrace = try Paths.temporaryDirectory("invalid") + "/notes.txt"
        try "hello\nworld\n".write(toFile: notATrace, atomically: true, encoding: .utf8)
        let refused = try Paths.strictrun(["report", notATrace])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("not a strictrun trace"))
        let missing = try Paths.strictrun(["report", "/nonexistent/trace.jsonl"])
        #expect(missing.status == 2 && missing.stderr.contains("no such file"))
    }

    @Test("the TLS broker's failures are tls sites; routed connects are logged tls events")
    func tlsEvents() throws {
        let path = try Paths.temporaryDirectory("tls") + "/tls.jsonl"
        try tlsTrace().write(toFile: path, atomically: true, encoding: .utf8)
        let (report, _) = try jsonReport([path])
        let tls = try #require(report.categories.first { $0.category == "tls" })
        #expect(tls.blocked == 1 && tls.events == 2 && tls.sites == 2)
        let failure = try #require(report.sites.first { $0.id == "~tls/verification-failed" })
        #expect(failure.actions == [ActionCount(action: "refuse", events: 1)])
        #expect(failure.firstEvent?.oneLine.contains("sni=example.com") == true)
        #expect(report.totals.blocked == 2 && report.totals.logged == 1 && report.totals.policyEvents == 3)
    }

    @Test("--baseline shows the fork site gone when the program stops forking")
    func baseline() throws {
        let before = try pythonForkTrace(fork: true)
        let after = try pythonForkTrace(fork: false)
        let (report, _) = try jsonReport([after, "--baseline", before])
        let diff = try #require(report.baseline)
        let gone = try #require(diff.gone.first { $0.category == "process" })
        #expect(gone.rules == ["fork"])
        #expect(gone.owner == "os_fork")
        #expect(gone.eventsBefore == 1 && gone.eventsAfter == 0)
        #expect(diff.new.isEmpty)
        let text = try Paths.strictrun(["report", after, "--baseline", before])
        #expect(text.stdout.contains("gone \(gone.id) process/fork os_fork"))
        let markdown = try Paths.strictrun(["report", after, "--baseline", before, "--format", "md"])
        #expect(markdown.stdout.contains("| gone | `\(gone.id)` | process | fork |"))
        // A JSON report works as the baseline too.
        let saved = try Paths.temporaryDirectory("baseline") + "/before.json"
        let (_, json) = try jsonReport([before])
        try json.stdout.write(toFile: saved, atomically: true, encoding: .utf8)
        let (again, _) = try jsonReport([after, "--baseline", saved])
        #expect(again.baseline?.gone.map(\.id) == diff.gone.map(\.id))
    }

    @Test("memory does not grow with the trace: a 4× larger generated trace needs about the same peak")
    func boundedMemory() throws {
        let dir = try Paths.temporaryDirectory("large")
        var peaks: [Int] = []
        for megabytes in [12, 48] {
            let path = "\(dir)/trace-\(megabytes).jsonl"
            try generateTrace(path: path, megabytes: megabytes)
            // A Python parent measures its child's peak (RUSAGE_CHILDREN of a process with one child).
            let measure = "import resource, subprocess, sys\n"
                + "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
                + "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
            let outcome = try Paths.run([Paths.python, "-c", measure, Paths.strictrun, "report", path, "--format", "json"])
            let fields = outcome.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            #expect(fields.first == 0, "report failed: \(outcome.stdout) \(outcome.stderr)")
            peaks.append(fields.last ?? .max)
            try? FileManager.default.removeItem(atPath: path)
        }
        print("report peak RSS: 12 MB trace \(peaks[0]) KB, 48 MB trace \(peaks[1]) KB")
        #expect(peaks[1] < peaks[0] + 16 * 1024, "peak grew from \(peaks[0]) KB to \(peaks[1]) KB")
        #expect(peaks[1] < 48 * 1024 * 2)
    }

    /// A `strictrun run` trace of a Python script that forks once (or not).
    func pythonForkTrace(fork: Bool) throws -> String {
        let dir = try Paths.temporaryDirectory("fork")
        let script = dir + "/maybe_fork.py"
        try """
            import os, sys
            if sys.argv[1] == "fork":
                try:
                    pid = os.fork()
                    if pid == 0:
                        os._exit(0)
                    os.waitpid(pid, 0)
                except OSError as e:
                    print("fork:", e.errno)
            print("done")
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let trace = dir + "/\(fork ? "fork" : "nofork").jsonl"
        let outcome = try Paths.strictrun(["run", "--profile", "microkernel", "--trace", trace, "-q", "--",
                                           Paths.python, script, fork ? "fork" : "no"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        return trace
    }

    /// Write a trace of `megabytes` MB: policy events over 300 sites and 500 processes, a stack on
    /// the first 20 events of each site (as strictrun's site cap does), then the site id only.
    func generateTrace(path: String, megabytes: Int) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var buffer = Data()
        var size = 0
        var seq = 0
        var stacked: [Int: Int] = [:]
        func line(_ text: String) throws {
            buffer.append(contentsOf: Array(text.utf8))
            buffer.append(0x0A)
            size += text.utf8.count + 1
            if buffer.count > 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        seq += 1
        try line(#"{"v":1,"seq":1,"time":"2026-01-01T00:00:00.000000Z","type":"start","profile":"microkernel","profile_files":[],"mode":"enforce","argv":["generated"],"cwd":"/","strictrun":"0.1.0","filter_instructions":40}"#)
        let categories = [("process", "fork", "clone", "EPERM"), ("wx", "wx-simultaneous", "mprotect", "EACCES"), ("escape", "io-uring", "io_uring_setup", "ENOSYS")]
        var state: UInt64 = 42
        while size < megabytes << 20 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let site = Int(state >> 33) % 300
            let pid = 1000 + Int(state >> 20) % 500
            let (category, rule, syscall, errno) = categories[site % 3]
            seq += 1
            stacked[site, default: 0] += 1
            let stack = stacked[site]! <= 20
                ? "[" + (0..<12).map { #"{"pc":"0x7f00\#($0)","module":"/usr/bin/node","offset":"0x\#(site)\#($0)","symbol":"ns\#(site % 7)::Class\#(site)::method\#($0)(int, char const*)","file":"src/f\#(site).cc","line":\#($0 + 10)}"# }.joined(separator: ",") + "]"
                : "null"
            try line(#"{"v":1,"seq":\#(seq),"time":"2026-01-01T00:00:\#(String(format: "%02d", seq / 100_000 % 60)).\#(String(format: "%06d", seq % 1_000_000))Z","type":"policy","pid":\#(pid),"tid":\#(pid),"exe":"/usr/bin/node","syscall":"\#(syscall)","nr":56,"abi":"x86_64","args":{"flags":"CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD","stack":"0x0","padding":"\#(String(repeating: "x", count: 200))"},"category":"\#(category)","rule":"\#(rule)","action":"deny","errno":"\#(errno)","stack":\#(stack),"site":"\#(String(format: "%016x", site * 7919 + 1))","site_frames":5}"#)
        }
        try line(#"{"v":1,"seq":\#(seq + 1),"time":"2026-01-01T00:01:00.000000Z","type":"exit","pid":1000,"exe":"/usr/bin/node","code":0,"exit_status":0,"final":true,"processes":500,"counts":[]}"#)
        try handle.write(contentsOf: buffer)
    }
}

/// The cells of every Markdown table row (`| a | b |` → ["a", "b"]), separator rows left out.
func tableRows(_ markdown: String) -> [[String]] {
    markdown.split(separator: "\n").compactMap { line -> [String]? in
        guard line.hasPrefix("|"), line.hasSuffix("|"), !line.hasPrefix("|---") else { return nil }
        var cells: [String] = []
        var current = ""
        var previous: Character = " "
        for character in line.dropFirst().dropLast() {
            if character == "|" && previous != "\\" {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        cells.append(current.trimmingCharacters(in: .whitespaces))
        return cells.map { $0.replacingOccurrences(of: "\\|", with: "|") }
    }
}
