import Foundation
import StrictrunConformance
import StrictrunReport
import StrictrunResults
import StrictrunTrace
import Testing

/// Trace lines for the TLS tests: each helper writes one line of the shape the tracer and the
/// broker write (`seq` filled in by `TLSLines.trace`).
enum TLSLines {
    static func stack(_ site: String?, _ symbol: String = "connect") -> String {
        guard let site else { return #""stack":null,"site":null"# }
        return #""stack":[{"pc":"0x1","module":"/lib/x86_64-linux-gnu/libc.so.6","symbol":"__libc_\#(symbol)"},{"pc":"0x2","module":"/usr/bin/app","symbol":"app_\#(symbol)"}],"site":"\#(site)""#
    }
    static func connect(_ connection: Int, site: String?, port: Int = 8443, rule: String = "tls-port") -> String {
        #"{"type":"policy","pid":7,"tid":7,"exe":"/usr/bin/app","syscall":"connect","nr":42,"abi":"x86_64","args":{"fd":3,"addr":"127.0.0.1:\#(port)"},"category":"tls","rule":"\#(rule)","action":"route","destination":"127.0.0.1:\#(port)","outcome":"routed","connection":\#(connection),"broker":"127.0.0.1:40000",\#(stack(site))}"#
    }
    static func tls(_ connection: Int, _ event: String, extra: String = "") -> String {
        #"{"type":"tls","pid":7,"connection":\#(connection),"event":"\#(event)","destination":"127.0.0.1:8443","sni":"localhost"\#(extra)}"#
    }
    static func handshake(_ connection: Int) -> String {
        tls(connection, "handshake", extra: #","upstream_verified":true,"milliseconds":1.2,"alpn":"http/1.1""#)
    }
    static func verificationLine(_ connection: Int) -> String {
        tls(connection, "verification-failed", extra: #","reason":"unable to get local issuer certificate (Rogue CA)","alert":"unknown_ca","app_response":"alert""#)
    }
    /// The broker's policy event for a refused certificate: no syscall, the connect's stack.
    static func verificationEvent(_ connection: Int, site: String?) -> String {
        #"{"type":"policy","pid":7,"category":"tls","rule":"verification-failed","action":"deny","connection":\#(connection),"destination":"127.0.0.1:8443","sni":"localhost","reason":"unable to get local issuer certificate (Rogue CA)",\#(stack(site))}"#
    }
    static func keyRead(site: String?, action: String = #""action":"deny","errno":"EACCES""#) -> String {
        #"{"type":"policy","pid":7,"tid":7,"exe":"/usr/bin/app","syscall":"openat","nr":257,"abi":"x86_64","args":{"dirfd":"AT_FDCWD","path":"/srv/key.pem","flags":"O_RDONLY"},"category":"tls","rule":"key-read",\#(action),"key_format":"pem-private-key",\#(stack(site, "open"))}"#
    }
    static func serverInApp(site: String?) -> String {
        #"{"type":"policy","pid":7,"tid":7,"exe":"/usr/bin/app","syscall":"listen","nr":50,"abi":"x86_64","args":{"fd":5,"backlog":511},"category":"tls","rule":"server-in-app","action":"log","connection":9,"destination":"127.0.0.1:9443",\#(stack(site, "listen"))}"#
    }
    static let fork = #"{"type":"policy","pid":7,"tid":7,"exe":"/usr/bin/app","syscall":"clone","nr":56,"abi":"x86_64","args":{"flags":"SIGCHLD"},"category":"process","rule":"fork","action":"deny","errno":"EPERM","stack":null,"site":null}"#

    /// A whole trace: start, `lines`, the final exit; `v`, `seq` and `time` added to each.
    static func trace(_ lines: [String], exit: Int = 1) -> String {
        let start = #"{"type":"start","profile":"microkernel","profile_files":[],"mode":"enforce","argv":["app"],"cwd":"/","strictrun":"0.1.0","filter_instructions":1}"#
        let end = #"{"type":"exit","pid":7,"exe":"/usr/bin/app","code":\#(exit),"exit_status":\#(exit),"final":true,"processes":1,"counts":[]}"#
        return ([start] + lines + [end]).enumerated().map { index, line in
            #"{"v":1,"seq":\#(index + 1),"time":"2026-01-01T00:00:00.\#(String(format: "%06d", index + 1))Z","#
                + line.dropFirst()
        }.joined(separator: "\n") + "\n"
    }

    static func write(_ lines: [String], exit: Int = 1) throws -> String {
        let path = try Paths.temporaryDirectory("tls-unit") + "/trace.jsonl"
        try trace(lines, exit: exit).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite("TLS adaptation: digest, aggregation, attribution")
struct TLSAdaptationTests {
    @Test("per site: handshakes joined to their connect, relayed streams, an older trace's verification failure, key reads, server-side TLS")
    func digestBySite() throws {
        let path = try TLSLines.write([
            TLSLines.connect(1, site: "aaaa000000000001"), TLSLines.handshake(1), TLSLines.tls(1, "closed"),
            TLSLines.connect(2, site: "aaaa000000000001"), TLSLines.handshake(2),
            TLSLines.connect(3, site: "aaaa000000000001", port: 8080, rule: "tcp-stream"), TLSLines.tls(3, "relayed"),
            TLSLines.connect(4, site: "bbbb000000000002"), TLSLines.verificationLine(4), TLSLines.tls(4, "closed"),
            TLSLines.keyRead(site: "cccc000000000003"), TLSLines.keyRead(site: "cccc000000000003"),
            TLSLines.serverInApp(site: "dddd000000000004"),
            TLSLines.handshake(77),  // a connection no connect of the trace names
        ])
        let digest = try TraceDigest.read(path: path)
        let tls = try #require(digest.tls)
        #expect(tls.counts.handshakes == 3 && tls.counts.verificationFailures == 1 && tls.counts.keyReads == 2)
        #expect(tls.counts.serverInApp == 1 && tls.counts.connections == 4 && tls.counts.relayed == 1)
        func site(_ id: String) -> TLSSite? { tls.sites.first { $0.id == id } }
        let connects = try #require(site("aaaa000000000001"))
        #expect(connects.counts.handshakes == 2 && connects.counts.connections == 3 && connects.counts.relayed == 1)
        #expect(connects.rules == ["tls-port", "tcp-stream"])
        #expect(connects.destinations == ["127.0.0.1:8443", "127.0.0.1:8080"])
        #expect(connects.frames == ["__libc_connect", "app_connect"])
        let refused = try #require(site("bbbb000000000002"))
        #expect(refused.counts.verificationFailures == 1 && refused.reasons.first?.contains("Rogue CA") == true)
        let keys = try #require(site("cccc000000000003"))
        #expect(keys.counts.keyReads == 2 && keys.paths == ["/srv/key.pem"] && keys.keyFormats == ["pem-private-key"])
        #expect(site("dddd000000000004")?.counts.serverInApp == 1)
        #expect(site("~tls/handshake")?.counts.handshakes == 1)
        // Conflicts first: the key reads (2), then the verification failure and the listen.
        #expect(tls.sites.first?.id == "cccc000000000003")
        // Blocked: the key reads and the verification failure; the first blocked call is the refusal (seq 10).
        #expect(digest.blocked == 3)
        #expect(digest.first?.rule == "verification-failed" && digest.first?.seq == 10)
        #expect(digest.categories.map(\.category) == ["tls"])
        #expect(digest.categories.first?.rules == ["key-read", "verification-failed"])
    }

    @Test("a verification failure is counted once: from the broker's policy event (with the connect's site) in either order, else from the tls line")
    func verificationOnce() throws {
        for order in [0, 1] {
            let pair = [TLSLines.verificationLine(1), TLSLines.verificationEvent(1, site: "aaaa000000000001")]
            let path = try TLSLines.write([TLSLines.connect(1, site: "aaaa000000000001")]
                                          + (order == 0 ? pair : pair.reversed()) + [TLSLines.tls(1, "closed"), TLSLines.fork])
            let digest = try TraceDigest.read(path: path)
            #expect(digest.tls?.counts.verificationFailures == 1, "order \(order)")
            #expect(digest.tls?.sites.map(\.id) == ["aaaa000000000001"], "order \(order)")
            #expect(digest.blocked == 2, "the failure and the fork, order \(order)")
            #expect(digest.categories.first { $0.category == "tls" }?.events == 1)
            // The broker's event has no syscall: it reads as `tls`, blocks, and carries the site and its members.
            let first = try #require(digest.first)
            #expect(first.category == "tls" && first.rule == "verification-failed" && first.action == "deny")
            #expect(first.site == "aaaa000000000001" && first.frames.count == 2)
            #expect(first.oneLine.contains("sni=localhost"), "\(first.oneLine)")
            let attribution = Classifier.attribution(digest)
            #expect(attribution.primary == "tls" && attribution.first?.rule == "verification-failed")

            var builder = ReportBuilder()
            try builder.add(trace: path)
            let report = builder.build(generated: "now")
            #expect(report.categories.first { $0.category == "tls" }?.blocked == 1, "order \(order)")
            #expect(report.tlsAdaptation?.counts.verificationFailures == 1)
            #expect(!report.sites.contains { $0.id == "~tls/verification-failed" })
        }
    }

    @Test("a key read first (deny, or audit's log) attributes the failure to tls/key-read")
    func keyReadAttribution() throws {
        for action in [#""action":"deny","errno":"EACCES""#, #""action":"log","audited":"deny(EACCES)""#] {
            let path = try TLSLines.write([TLSLines.keyRead(site: "cccc000000000003", action: action), TLSLines.fork])
            let digest = try TraceDigest.read(path: path)
            let attribution = Classifier.attribution(digest)
            #expect(attribution.primary == "tls" && attribution.first?.rule == "key-read", "\(action)")
            #expect(attribution.first?.site == "cccc000000000003")
            #expect(digest.tls?.counts.keyReads == 1)
        }
    }

    @Test("results.json: per test in the digest, added up by test and by site; summary.md and the JSON keys")
    func conformanceAggregation() throws {
        let traces = [
            "t/a": [TLSLines.connect(1, site: "aaaa000000000001"), TLSLines.handshake(1)],
            "t/b": [TLSLines.connect(1, site: "aaaa000000000001"), TLSLines.handshake(1),
                    TLSLines.connect(2, site: "bbbb000000000002"), TLSLines.verificationEvent(2, site: "bbbb000000000002")],
            "t/c": [TLSLines.keyRead(site: "cccc000000000003")],
            "t/d": [String](),
        ]
        let ids = traces.keys.sorted()
        var records: [RunRecord] = []
        for id in ids {
            let path = try TLSLines.write(traces[id]!, exit: id == "t/a" || id == "t/d" ? 0 : 1)
            records.append(RunRecord(test: id, mode: .native, attempt: 1, outcome: .pass, seconds: 1, started: "", worker: 0, command: []))
            records.append(RunRecord(test: id, mode: .profile, attempt: 1, outcome: id == "t/a" || id == "t/d" ? .pass : .fail,
                                     seconds: 1, started: "", worker: 0, command: [], trace: path,
                                     digest: try TraceDigest.read(path: path)))
        }
        let header = RunHeader(schema: conformanceSchema, suite: SuiteInfo(name: "tls", description: "", file: "", root: ""),
                               profile: "microkernel", profileReference: "microkernel", strictrun: "0.1.0", started: "",
                               jobs: 1, retries: 0, environment: [:],
                               tests: ids.map { PlannedTest(id: $0, path: nil, flags: [], group: "g", serial: false, timeout: 60) })
        let results = Classifier.results(header: header, records: records, finished: "", complete: true, interrupted: false,
                                         wall: WallTimes())
        #expect(results.test("t/b")?.attribution?.primary == "tls")
        #expect(results.test("t/b")?.attribution?.first?.rule == "verification-failed")
        #expect(results.test("t/c")?.attribution?.first?.rule == "key-read")
        #expect(results.totals.newFailuresByPrimary == [CategoryCount(category: "tls", tests: 2)])
        let tls = try #require(results.tlsAdaptation)
        #expect(tls.runs == 3 && tls.runsRead == 4)
        #expect(tls.counts.handshakes == 2 && tls.counts.verificationFailures == 1 && tls.counts.keyReads == 1)
        #expect(tls.byRun.map(\.name) == ["t/b", "t/c", "t/a"])
        #expect(tls.sites.map(\.site.id) == ["bbbb000000000002", "cccc000000000003", "aaaa000000000001"])
        #expect(tls.sites.last?.runs == 2 && tls.sites.last?.runList == ["t/a", "t/b"])
        #expect(tls.headline(runNoun: "test").hasPrefix(
            "TLS adaptation: 2 mediated handshakes, 1 verification failure, 1 private-key read, 0 server-side TLS in the app, in 3 of 4 tests (3 call sites)"))

        // The JSON keys, and a round trip.
        let data = try ResultsCoding.encoder().encode(results)
        let json = String(decoding: data, as: UTF8.self)
        for key in ["\"tls_adaptation\"", "\"runs_read\"", "\"by_run\"", "\"run_list\"", "\"verification_failures\"",
                    "\"key_reads\"", "\"server_in_app\"", "\"key_formats\""] {
            #expect(json.contains(key), "\(key)")
        }
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let section = try #require(object["tls_adaptation"] as? [String: Any])
        #expect(section["handshakes"] as? Int == 2 && section["runs"] as? Int == 3)
        let test = try #require((object["tests"] as? [[String: Any]])?.first { $0["id"] as? String == "t/b" })
        let attempt = try #require(((test["profile"] as? [String: Any])?["attempts"] as? [[String: Any]])?.first)
        let digestTLS = try #require((attempt["digest"] as? [String: Any])?["tls"] as? [String: Any])
        #expect(digestTLS["verification_failures"] as? Int == 1 && (digestTLS["sites"] as? [Any])?.count == 2)
        let decoded = try ResultsCoding.decoder.decode(ConformanceResults.self, from: data)
        #expect(decoded.tlsAdaptation?.counts == tls.counts && decoded.tlsAdaptation?.sites.count == 3)
        #expect(decoded.test("t/b")?.profile?.attempts.first?.digest?.tls == results.test("t/b")?.profile?.attempts.first?.digest?.tls)

        let summary = SummaryWriter.markdown(results)
        #expect(summary.contains("## TLS: what the TLS adaptation must carry"))
        #expect(summary.contains("| t/b | 1 | 1 | 0 | 0 | 2 | 0 |"), "\(summary)")
        #expect(summary.contains("| `bbbb000000000002` | tls-port, verification-failed | 1 | 0 | 1 | 0 | 0 |"), "\(summary)")
        #expect(SummaryWriter.tlsLine(results)?.contains("in 3 of 4 tests") == true)
    }

    @Test("a run without TLS has no tls digest, no section; old results without the keys still read")
    func nothingTLS() throws {
        let path = try TLSLines.write([TLSLines.fork])
        let digest = try TraceDigest.read(path: path)
        #expect(digest.tls == nil)
        var builder = ReportBuilder()
        try builder.add(trace: path)
        let report = builder.build(generated: "now")
        #expect(report.tlsAdaptation == nil)
        #expect(!MarkdownRenderer.render(report, title: "t", top: 10).contains("TLS adaptation"))
        let old = #"{"handshakes":1,"sites":[]}"#
        let decoded = try JSONDecoder().decode(TLSDigest.self, from: Data(old.utf8))
        #expect(decoded.counts.handshakes == 1 && decoded.counts.keyReads == 0)
    }

    @Test("the report of one trace: the section in Markdown, HTML, text and JSON, with the same numbers")
    func reportSection() throws {
        let path = try TLSLines.write([
            TLSLines.connect(1, site: nil), TLSLines.handshake(1),
            TLSLines.connect(2, site: "bbbb000000000002"), TLSLines.verificationLine(2),
            TLSLines.keyRead(site: nil),
        ])
        var builder = ReportBuilder()
        try builder.add(trace: path)
        let report = builder.build(generated: "now")
        let tls = try #require(report.tlsAdaptation)
        #expect(tls.runs == 1 && tls.byRun.first?.name == path)
        // Without a stack a site is keyed like the report's sites.
        #expect(tls.sites.map(\.site.id).sorted() == ["bbbb000000000002", "~tls/key-read/openat@app", "~tls/tls-port/connect@app"])
        #expect(report.sites.contains { $0.id == "~tls/key-read/openat@app" })
        let markdown = try ReportFormat.md.render(report, title: "t", top: 10)
        #expect(markdown.contains("## TLS: what the TLS adaptation must carry"))
        #expect(markdown.contains("TLS adaptation: 1 mediated handshake, 1 verification failure, 1 private-key read"))
        #expect(markdown.contains("refused: unable to get local issuer certificate (Rogue CA)"))
        let html = try ReportFormat.html.render(report, title: "t", top: 10)
        #expect(html.contains("<section id=\"tls-adaptation\">"))
        #expect(attributeValues("data-site", in: html[...], marker: "data-site").contains("bbbb000000000002"))
        let text = try ReportFormat.text.render(report, title: "t", top: 10)
        #expect(text.contains("TLS adaptation: 1 mediated handshake"))
        let json = try ReportFormat.json.render(report, title: "t", top: 10)
        #expect(json.contains("\"tls_adaptation\""))
        let decoded = try JSONDecoder().decode(Report.self, from: Data(json.utf8))
        #expect(decoded.tlsAdaptation?.counts == tls.counts)
    }
}
