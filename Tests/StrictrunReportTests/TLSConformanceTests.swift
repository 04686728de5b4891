import Foundation
import StrictrunConformance
import StrictrunReport
import StrictrunResults
import Testing

/// A test CA and a rogue CA (openssl CLI), and real TLS servers (CPython's ssl) on loopback
/// ports: one with a certificate of the test CA, one of the rogue CA.
final class TLSServers: @unchecked Sendable {
    let directory: String
    private(set) var good = 0
    private(set) var rogue = 0
    private var servers: [Process] = []

    init() throws {
        directory = try Paths.temporaryDirectory("tls-servers")
        let pki = try Paths.run(["/bin/bash", "-c", """
            set -e
            cd '\(directory)'
            mk_ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.pem -days 3 -subj "/CN=$2"; }
            mk_cert() {
              openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.csr -subj "/CN=localhost"
              printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > $1.ext
              openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -out $1.pem -days 2 -extfile $1.ext
            }
            mk_ca ca "strictrun test CA"; mk_ca rogue "Rogue CA"
            mk_cert server ca; mk_cert rogue-server rogue
            """])
        try #require(pki.status == 0, "openssl: \(pki.stderr)")
        try """
            import http.server, ssl, sys, os, threading, time
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def do_GET(self):
                    body = b"hello\\n"
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *a): pass
            srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
            print(srv.server_address[1], flush=True)
            parent = os.getppid()
            def watch():   # exit with the test process
                while os.getppid() == parent: time.sleep(0.2)
                os._exit(0)
            threading.Thread(target=watch, daemon=True).start()
            srv.serve_forever()
            """.write(toFile: path("server.py"), atomically: true, encoding: .utf8)
        good = try start("server")
        rogue = try start("rogue-server")
    }

    deinit { for server in servers where server.isRunning { server.terminate() } }

    func path(_ name: String) -> String { directory + "/" + name }

    private func start(_ cert: String) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.python)
        process.arguments = [path("server.py"), path("\(cert).pem"), path("\(cert).key")]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        servers.append(process)
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        try #require(port > 0, "the test TLS server did not start")
        return port
    }

    /// `microkernel` routing both servers' ports to the broker, which trusts the test CA (not the rogue one).
    func profile() throws -> String {
        let file = path("tls-profile.yaml")
        try "extends: microkernel\ntls:\n  ports: [\(good), \(rogue)]\n  trust: \(path("ca.pem"))\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

/// The TLS section end to end: real clients under strictrun, through the broker, to real servers.
@Suite("TLS adaptation: real runs, report and conformance", .serialized)
struct TLSConformanceTests {
    @Test("a Node run's trace: the report's TLS section counts its handshake and its verification failure at the connect's site")
    func reportOfOneTrace() throws {
        let servers = try TLSServers()
        let trace = try Paths.temporaryDirectory("tls-trace") + "/trace.jsonl"
        let script = """
            const https = require('https'), fs = require('fs');
            const get = (o) => new Promise((ok, fail) => https.get(o, r => { let b = ''; r.on('data', d => b += d);
              r.on('end', () => ok(b)); }).on('error', fail));
            (async () => {
              console.log('good', (await get('https://localhost:\(servers.good)/')).trim());
              // The app trusts the rogue CA itself; the profile's trust store does not.
              await get({ host: 'localhost', port: \(servers.rogue), path: '/', ca: fs.readFileSync('\(servers.path("rogue.pem"))') })
                .then(() => console.log('rogue accepted'), e => console.log('rogue', e.code));
            })();
            """
        let run = try Paths.strictrun(["run", "-q", "--profile", try servers.profile(), "--trace", trace, "--",
                                       "/usr/bin/node", "--jitless", "-e", script])
        #expect(run.stdout.hasPrefix("good hello\nrogue "), "\(run.stdout)\n\(run.stderr)")
        #expect(!run.stdout.contains("rogue accepted"))

        // The routed connects of the trace, by connection id: their sites.
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        var siteOf: [Int: String] = [:]
        for line in lines where line["outcome"] as? String == "routed" {
            if let id = line["connection"] as? Int, let site = line["site"] as? String { siteOf[id] = site }
        }
        let failed = try #require(lines.first { $0["event"] as? String == "verification-failed" }?["connection"] as? Int)
        let failedSite = try #require(siteOf[failed])

        let json = try Paths.strictrun(["report", trace, "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(json.stdout.utf8))
        let tls = try #require(report.tlsAdaptation)
        #expect(tls.counts.handshakes == 1 && tls.counts.verificationFailures == 1 && tls.counts.connections == 2)
        #expect(tls.runs == 1 && tls.byRun.first?.name == trace)
        let site = try #require(tls.sites.first { $0.site.counts.verificationFailures == 1 })
        #expect(site.site.id == failedSite && site.site.site == failedSite)
        #expect(site.site.destinations.contains("127.0.0.1:\(servers.rogue)"))
        #expect(site.site.reasons.first?.contains("Rogue CA") == true, "\(site.site.reasons)")
        #expect(!site.site.frames.isEmpty)

        let markdown = try Paths.strictrun(["report", trace, "--format", "md"])
        #expect(markdown.stdout.contains("## TLS: what the TLS adaptation must carry"))
        #expect(markdown.stdout.contains("TLS adaptation: 1 mediated handshake, 1 verification failure, 0 private-key reads"))
        let html = try Paths.strictrun(["report", trace, "--format", "html"])
        #expect(html.stdout.contains("<section id=\"tls-adaptation\">"))
        #expect(html.stdout.contains("data-site=\"\(failedSite)\""))
    }

    @Test("a tiny suite: the new failure is attributed to tls/verification-failed; summary.md, results.json, stdout and the report carry the section")
    func conformanceSuite() throws {
        let servers = try TLSServers()
        let dir = try Paths.temporaryDirectory("tls-suite")
        let tests = [
            // Trusts the test CA through SSL_CERT_FILE (the suite's natively; the broker's per-run CA under strictrun).
            "tls-ok": "import os, urllib.request\nassert urllib.request.urlopen('https://localhost:' + os.environ['GOOD_PORT'] + '/').read() == b'hello\\n'\n",
            // Passes its own CA: natively accepted; the broker, which trusts the test CA only, refuses the server.
            "tls-own-ca": "import os, ssl, urllib.request\nctx = ssl.create_default_context(cafile=os.environ['ROGUE_CA'])\n"
                + "assert urllib.request.urlopen('https://localhost:' + os.environ['ROGUE_PORT'] + '/', context=ctx).read() == b'hello\\n'\n",
            "plain": "print('no TLS here')\n",
        ]
        for (name, body) in tests { try body.write(toFile: "\(dir)/\(name).py", atomically: true, encoding: .utf8) }
        try """
            name: tls-fixtures
            tests: {list: [tls-ok, tls-own-ca, plain]}
            command: ['\(Paths.python)', '{root}/{name}.py']
            env: {SSL_CERT_FILE: '\(servers.path("ca.pem"))', GOOD_PORT: '\(servers.good)', ROGUE_PORT: '\(servers.rogue)',
                  ROGUE_CA: '\(servers.path("rogue.pem"))'}
            timeout: 60
            retries: 0

            """.write(toFile: dir + "/suite.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/out"
        let outcome = try Paths.strictrun(["conformance", "run", dir + "/suite.yaml", "--profile", try servers.profile(),
                                           "--jobs", "2", "--out", out])
        #expect(outcome.status == 0, "\(outcome.stdout)\n\(outcome.stderr)")
        let results = try Paths.results(out)
        #expect(results.test("tls-ok")?.status == .pass)
        #expect(results.test("plain")?.status == .pass)
        let failure = try #require(results.test("tls-own-ca"))
        #expect(failure.status == .newFailure, "\(failure.status)")
        #expect(failure.attribution?.primary == "tls")
        #expect(failure.attribution?.first?.rule == "verification-failed")
        #expect(results.totals.newFailuresByPrimary == [CategoryCount(category: "tls", tests: 1)])

        func digest(_ id: String) -> TLSDigest? { results.test(id)?.profile?.attempts.first?.digest?.tls }
        #expect(digest("tls-ok")?.counts.handshakes == 1 && digest("tls-ok")?.counts.connections == 1)
        #expect(digest("tls-own-ca")?.counts.verificationFailures == 1 && digest("tls-own-ca")?.counts.handshakes == 0)
        #expect(digest("plain") == nil)
        let tls = try #require(results.tlsAdaptation)
        #expect(tls.runs == 2 && tls.runsRead == 3)
        #expect(tls.counts.handshakes == 1 && tls.counts.verificationFailures == 1 && tls.counts.connections == 2)
        #expect(tls.byRun.map(\.name) == ["tls-own-ca", "tls-ok"])
        // The refused connection's site is its connect's (a stack site, not a `~tls/…` stand-in).
        let refused = try #require(tls.sites.first { $0.site.counts.verificationFailures == 1 })
        #expect(refused.site.site?.count == 16, "\(refused.site.id)")
        #expect(refused.runList.contains("tls-own-ca"))
        let raw = try String(contentsOfFile: out + "/results.json", encoding: .utf8)
        #expect(raw.contains("\"tls_adaptation\"") && raw.contains("\"verification_failures\""))

        let summary = try String(contentsOfFile: out + "/summary.md", encoding: .utf8)
        #expect(summary.contains("of the 1 new failure: process 0, wx 0, tls 1, unattributed 0."), "\(summary)")
        #expect(summary.contains("## TLS: what the TLS adaptation must carry"))
        #expect(summary.contains("in 2 of 3 tests"), "\(summary)")
        #expect(summary.contains("| tls-own-ca | 0 | 1 | 0 | 0 | 1 | 0 |"), "\(summary)")
        #expect(summary.contains("| tls-ok | 1 | 0 | 0 | 0 | 1 | 0 |"), "\(summary)")
        #expect(outcome.stdout.contains("TLS adaptation: 1 mediated handshake, 1 verification failure"), "\(outcome.stdout)")

        // The report of the directory reads the same traces: the same numbers.
        let json = try Paths.strictrun(["report", out, "--format", "json"])
        let report = try JSONDecoder().decode(Report.self, from: Data(json.stdout.utf8))
        #expect(report.tlsAdaptation?.counts == tls.counts)
        #expect(report.tlsAdaptation?.sites.map(\.site.id) == tls.sites.map(\.site.id))
        #expect(report.tlsAdaptation?.byRun.map(\.name) == ["tls-own-ca", "tls-ok"])
        let markdown = try Paths.strictrun(["report", out, "--format", "md"])
        #expect(markdown.stdout.contains("| tls-own-ca | 0 | 1 | 0 | 0 | 1 | 0 |"), "\(markdown.stdout)")
    }
}
