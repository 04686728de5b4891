import Foundation
import StrictrunTrace
import Testing

/// A test PKI made with the openssl CLI, and real TLS servers (CPython's ssl) on loopback.
final class TLSFixture: @unchecked Sendable {
    let directory: URL
    private var servers: [Process] = []

    init() throws {
        directory = try Fixture.temporaryDirectory()
        try sh("""
            set -e
            mk_ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.pem -days 3 -subj "/CN=$2"; }
            mk_cert() { # name ca cn days
              openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.csr -subj "/CN=$3"
              printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\\n' > $1.ext
              openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -out $1.pem -days 2 -extfile $1.ext
            }
            mk_ca ca "strictrun test CA"
            mk_ca rogue "Rogue CA"
            mk_cert server ca localhost
            mk_cert rogue-server rogue localhost
            mk_cert client ca "test client"
            """)
        try """
            import http.server, ssl, sys
            host, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
            client_ca = sys.argv[4] if len(sys.argv) > 4 else None
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def do_GET(self):
                    who = self.connection.getpeercert()
                    cn = dict(x[0] for x in who["subject"])["commonName"] if who else "anonymous"
                    body = ("hello %s from %s\\n" % (self.path, cn)).encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *a): pass
            class S(http.server.ThreadingHTTPServer):
                address_family = __import__("socket").AF_INET6 if ":" in host else __import__("socket").AF_INET
            srv = S((host, 0), H)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
            if client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED; ctx.load_verify_locations(client_ca)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
            print(srv.server_address[1], flush=True)
            # Exit with the test process: when it is gone, this server is re-parented.
            import threading, os, time
            parent = os.getppid()
            def watch():
                while os.getppid() == parent: time.sleep(0.2)
                os._exit(0)
            threading.Thread(target=watch, daemon=True).start()
            srv.serve_forever()
            """.write(to: directory.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
    }

    deinit { for server in servers { server.terminate() } }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func sh(_ script: String) throws {
        let result = try Fixture.run(["/bin/bash", "-c", "cd '\(directory.path)' && { \(script)\n} 2>/dev/null"])
        try #require(result.status == 0, "openssl failed: \(result.stderr)")
    }

    /// Starts a TLS server; returns its port.
    func server(host: String = "127.0.0.1", cert: String = "server", clientCA: String? = nil) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixture.python)
        process.arguments = [path("server.py"), host, path("\(cert).pem"), path("\(cert).key")]
            + (clientCA.map { [path("\($0).pem")] } ?? [])
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

    /// `microkernel` routing only the test servers' `ports` (`mediate: ports`), trusting the test CA upstream:
    /// the route action is microkernel's own.
    func profile(ports: [Int], extra: String = "") throws -> String {
        let file = path("tls-\(ports.map(String.init).joined(separator: "-")).yaml")
        try """
            extends: microkernel
            tls:
              mediate: ports
              ports: [\(ports.map(String.init).joined(separator: ", "))]
              trust: \(path("ca.pem"))
            \(extra)
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

/// Mediated TLS end to end: real clients under strictrun, routed through the broker to real servers.
@Suite("Mediated TLS")
struct TLSTests {
    static func routed(_ trace: [JSONValue]) -> [JSONValue] {
        trace.policyEvents.filter { $0["category"]?.stringValue == "tls" && $0["outcome"]?.stringValue == "routed" }
    }
    static func tlsEvents(_ trace: [JSONValue], _ kind: String) -> [JSONValue] {
        trace.filter { $0["type"]?.stringValue == "tls" && $0["event"]?.stringValue == kind }
    }

    @Test("Node, Python urllib and curl get the body through the broker; the trace has destination and SNI")
    func clients() throws {
        let tls = try TLSFixture()
        let port = try tls.server()
        let profile = try tls.profile(ports: [port])
        let url = "https://localhost:\(port)/x"
        let clients: [[String]] = [
            ["/usr/bin/node", "--jitless", "-e",
             "require('https').get('\(url)', r => { let b=''; r.on('data', d => b += d); r.on('end', () => process.stdout.write(b)); })"],
            [Fixture.python, "-c", "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('\(url)').read().decode())"],
            ["/usr/bin/curl", "-sS", url],
        ]
        for argv in clients {
            let (result, trace, path) = try Fixture.strictrun(profile: profile, argv)
            #expect(result.stdout == "hello /x from anonymous\n", "\(argv[0]): \(result.stderr)")
            let event = Self.routed(trace).first
            #expect(event?["destination"]?.stringValue == "127.0.0.1:\(port)", "\(path)")
            #expect(event?["action"]?.stringValue == "route")
            #expect((event?["stack"]?.arrayValue?.count ?? 0) > 3, "the connect's stack")
            let handshake = Self.tlsEvents(trace, "handshake").first
            #expect(handshake?["sni"]?.stringValue == "localhost")
            #expect(handshake?["upstream_verified"]?.boolValue == true)
            #expect(handshake?["connection"] == event?["connection"])
        }
    }

    @Test("an upstream certificate from an untrusted CA: the app sees a verification error; the trace says why")
    func untrustedUpstream() throws {
        let tls = try TLSFixture()
        let port = try tls.server(cert: "rogue-server")
        let profile = try tls.profile(ports: [port])
        let (result, trace, _) = try Fixture.strictrun(profile: profile, ["/usr/bin/curl", "-sS", "https://localhost:\(port)/"])
        #expect(result.status == 60, "curl: peer certificate cannot be authenticated — \(result.stderr)")
        let failure = Self.tlsEvents(trace, "verification-failed").first
        #expect(failure?["reason"]?.stringValue?.contains("Rogue CA") == true
                || failure?["reason"]?.stringValue?.contains("issuer") == true, "\(String(describing: failure))")
        #expect(failure?["alert"]?.stringValue == "unknown_ca")

        let node = try Fixture.strictrun(profile: profile, ["/usr/bin/node", "--jitless", "-e",
            "require('https').get('https://localhost:\(port)/', () => console.log('body?')).on('error', e => console.log('ERR', e.code))"])
        #expect(node.result.stdout.hasPrefix("ERR "), "\(node.result.stdout)")
        #expect(!node.result.stdout.contains("body?"))
        #expect(!Self.tlsEvents(node.trace, "verification-failed").isEmpty)
    }

    @Test("upstream requires a client certificate: the broker presents it; the app may not open its key")
    func clientCertificate() throws {
        let tls = try TLSFixture()
        let port = try tls.server(clientCA: "ca")
        let profile = try tls.profile(ports: [port], extra: """
              client-certificates:
                - {host: localhost, certificate: \(tls.path("client.pem")), key: \(tls.path("client.key"))}
            """)
        let (result, trace, _) = try Fixture.strictrun(profile: profile, ["/usr/bin/curl", "-sS", "https://localhost:\(port)/c"])
        #expect(result.stdout == "hello /c from test client\n", "\(result.stderr)")
        #expect(Self.tlsEvents(trace, "handshake").first?["client_certificate"]?.boolValue == true)

        let steal = try Fixture.strictrun(profile: profile, [Fixture.python, "-c", """
            try:
                open('\(tls.path("client.key"))').read(); print('read the key')
            except PermissionError: print('denied')
            print(len(open('\(tls.path("client.pem"))').read()) > 0)
            """])
        #expect(steal.result.stdout == "denied\nTrue\n")
        let denial = steal.trace.policyEvents.first { $0["rule"]?.stringValue == "client-key" }
        #expect(denial?["category"]?.stringValue == "tls")
        #expect(denial?["errno"]?.stringValue == "EACCES")
    }

    @Test("IPv6, 50 concurrent non-blocking connects, and a non-TLS port left alone")
    func ipv6ConcurrencyAndPlainPorts() throws {
        let tls = try TLSFixture()
        let v4 = try tls.server()
        let v6 = try tls.server(host: "::1")
        let plain = try tls.server()  // a TLS server on a port the profile does not list
        let profile = try tls.profile(ports: [v4, v6])
        let script = """
            const https = require('https');
            const get = (url) => new Promise((ok, fail) => https.get(url, r => { let b=''; r.on('data', d => b += d);
              r.on('end', () => ok(b)); }).on('error', fail));
            (async () => {
              const many = await Promise.all([...Array(50).keys()].map(i => get('https://localhost:\(v4)/' + i)));
              console.log('v4', many.filter((b, i) => b === 'hello /' + i + ' from anonymous\\n').length);
              console.log('v6', (await get('https://[::1]:\(v6)/six')).trim());
              const direct = await get({ host: 'localhost', port: \(plain), path: '/plain', ca: require('fs').readFileSync('\(tls.path("ca.pem"))') });
              console.log('plain', direct.trim());
            })().catch(e => { console.log('ERR', e.code, e.message); process.exit(1); });
            """
        let (result, trace, _) = try Fixture.strictrun(profile: profile, ["/usr/bin/node", "--jitless", "-e", script])
        #expect(result.stdout == "v4 50\nv6 hello /six from anonymous\nplain hello /plain from anonymous\n", "\(result.stderr)")
        let routed = Self.routed(trace)
        #expect(routed.filter { $0["destination"]?.stringValue == "127.0.0.1:\(v4)" }.count == 50)
        #expect(routed.contains { $0["destination"]?.stringValue == "[::1]:\(v6)" && $0["args"]?["family"]?.stringValue == "AF_INET6" })
        #expect(!trace.policyEvents.contains { $0["destination"]?.stringValue?.hasSuffix(":\(plain)") == true },
                "the unlisted port is not touched")
        #expect(Self.tlsEvents(trace, "handshake").count == 51)
    }

    @Test("TOCTOU: a thread rewriting the sockaddr after the check never reaches the TLS port unrouted")
    func toctou() throws {
        let tls = try TLSFixture()
        // Two free ports for the example's own listeners.
        let free = try Fixture.run([Fixture.python, "-c", """
            import socket
            a, b = socket.socket(), socket.socket(); a.bind(('127.0.0.1', 0)); b.bind(('127.0.0.1', 0))
            print(a.getsockname()[1], b.getsockname()[1])
            """]).stdout.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        let (plain, tlsPort) = (free[0], free[1])
        let native = try Fixture.run([Fixture.example("escape_toctou"), plain, tlsPort, "2000"])
        #expect(!native.stdout.contains("unrouted=0 "), "natively the race is real: \(native.stdout)")
        let profile = try tls.profile(ports: [Int(tlsPort)!])
        let (result, trace, _) = try Fixture.strictrun(profile: profile, [Fixture.example("escape_toctou"), plain, tlsPort, "2000"])
        #expect(result.stdout.contains("RESULT toctou ok unrouted=0 connected=2000"), "\(result.stdout)")
        #expect(!Self.routed(trace).isEmpty, "some connects were seen aimed at the TLS port, and routed")
    }
}
