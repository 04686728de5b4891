import Foundation
import StrictrunTrace
import Testing

/// Mediation by protocol (issue 19): under `microkernel` every TCP stream goes to the broker, which terminates
/// what starts with a ClientHello and relays anything else byte for byte; the trusted component's store, not the
/// app's own CA options, decides which servers are trusted.
@Suite("Mediated TLS by protocol")
struct TLSMediationTests {
    /// `microkernel` as shipped (every TCP stream mediated), trusting the fixture's test CA upstream.
    static func profile(_ tls: TLSFixture, extra: String = "") throws -> String {
        let file = tls.path("mediate-all.yaml")
        try """
            extends: microkernel
            tls:
              trust-extra: [\(tls.path("ca.pem"))]
            \(extra)
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    static func tlsLines(_ trace: [JSONValue], _ kind: String) -> [JSONValue] {
        trace.filter { $0["type"]?.stringValue == "tls" && $0["event"]?.stringValue == kind }
    }

    @Test("Node and Python reach a TLS server on a random port through the broker and see the per-run CA")
    func randomPortClients() throws {
        let tls = try TLSFixture()
        let port = try tls.server()
        let profile = try Self.profile(tls)
        let node = try Fixture.strictrun(profile: profile, ["/usr/bin/node", "--jitless", "-e", """
            const https = require('https');
            https.get('https://localhost:\(port)/node', r => { let b = ''; const issuer = r.socket.getPeerCertificate().issuer.CN;
              r.on('data', d => b += d); r.on('end', () => console.log(b.trim(), '|', issuer)); })
              .on('error', e => console.log('ERR', e.code));
            """])
        #expect(node.result.stdout.hasPrefix("hello /node from anonymous | strictrun per-run CA"),
                "\(node.result.stdout)\(node.result.stderr)")
        #expect(Self.tlsLines(node.trace, "handshake").first?["destination"]?.stringValue == "127.0.0.1:\(port)")
        let routed = node.trace.policyEvents.first { $0["rule"]?.stringValue == "tcp-stream" }
        #expect(routed?["outcome"]?.stringValue == "routed" && routed?["site"]?.stringValue != nil)

        let python = try Fixture.strictrun(profile: profile, [Fixture.python, "-c", """
            import socket, ssl
            ctx = ssl.create_default_context()
            with socket.create_connection(("127.0.0.1", \(port))) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    issuer = dict(x[0] for x in s.getpeercert()["issuer"])["commonName"]
                    s.sendall(b"GET /py HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
                    body = b""
                    while chunk := s.recv(4096): body += chunk
            print(body.split(b"\\r\\n\\r\\n", 1)[1].decode().strip(), "|", issuer)
            """])
        #expect(python.result.stdout.hasPrefix("hello /py from anonymous | strictrun per-run CA"),
                "\(python.result.stdout)\(python.result.stderr)")
    }

    @Test("a plain TCP echo on a random port is relayed byte-identical, 10 MB each way, half-close included")
    func plainEcho() throws {
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", ["/usr/bin/node", "--jitless", "-e", """
            const net = require('net'), crypto = require('crypto');
            const data = crypto.randomBytes(10 * 1024 * 1024);
            const srv = net.createServer({ allowHalfOpen: true }, c => c.pipe(c));
            srv.listen(0, '127.0.0.1', () => {
              const c = net.connect({ port: srv.address().port, host: '127.0.0.1', allowHalfOpen: true });
              const chunks = [];
              c.on('data', d => chunks.push(d));
              c.on('end', () => { const got = Buffer.concat(chunks);
                console.log(got.length, got.equals(data) ? 'identical' : 'different'); c.end(); srv.close(); });
              c.write(data); c.end();
            });
            """])
        #expect(result.stdout == "10485760 identical\n", "\(result.stdout)\(result.stderr)")
        let relayed = try #require(Self.tlsLines(trace, "relayed").first, "not relayed: \(path)")
        #expect(relayed["reason"]?.stringValue?.contains("does not speak TLS") == true)
        let closed = try #require(Self.tlsLines(trace, "closed").first)
        #expect(closed["bytes_up"]?.intValue == 10_485_760 && closed["bytes_down"]?.intValue == 10_485_760)
    }

    @Test("a server that speaks first is relayed at once; a loopback port nothing listens on refuses at connect")
    func serverFirstAndRefused() throws {
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", ["/usr/bin/node", "--jitless", "-e", """
            const net = require('net');
            const srv = net.createServer(c => c.end('220 greeting\\n'));
            srv.listen(0, '127.0.0.1', () => {
              const port = srv.address().port, t0 = Date.now(), c = net.connect(port, '127.0.0.1');
              let got = ''; c.on('data', d => got += d);
              c.on('end', () => {
                console.log(got.trim(), Date.now() - t0 < 1500 ? 'promptly' : 'late');
                srv.close(() => {
                  net.connect(port, '127.0.0.1').on('error', e => console.log(e.code));
                });
              });
            });
            """])
        #expect(result.stdout == "220 greeting promptly\nECONNREFUSED\n", "\(result.stdout)\(result.stderr)")
        #expect(Self.tlsLines(trace, "relayed").first?["reason"]?.stringValue?.contains("spoke first") == true, "\(path)")
        // The refused connect was the program's own: no routing, no event.
        #expect(trace.policyEvents.filter { $0["rule"]?.stringValue == "tcp-stream" }.count == 1, "\(path)")
    }

    @Test("the app's own ca: does not decide: a server only it trusts fails with a certificate error; reason and site")
    func ownCADoesNotDecide() throws {
        let tls = try TLSFixture()
        let port = try tls.server(cert: "rogue-server")
        let profile = try Self.profile(tls)
        let (result, trace, path) = try Fixture.strictrun(profile: profile, ["/usr/bin/node", "--jitless", "-e", """
            const https = require('https'), fs = require('fs');
            https.get({ host: 'localhost', port: \(port), path: '/', ca: fs.readFileSync('\(tls.path("rogue.pem"))') },
                      () => console.log('body?')).on('error', e => console.log('ERR', e.code));
            """])
        #expect(result.stdout.hasPrefix("ERR ") && !result.stdout.contains("body?"), "\(result.stdout)")
        #expect(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
                 "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_SIGNATURE_FAILURE"]
                .contains(String(result.stdout.dropFirst(4)).trimmingCharacters(in: .whitespacesAndNewlines)),
                "a certificate error: \(result.stdout)")
        let failure = try #require(Self.tlsLines(trace, "verification-failed").first, "\(path)")
        #expect(failure["reason"]?.stringValue?.contains("Rogue CA") == true)
        #expect(failure["site"]?.stringValue != nil && failure["stack"]?.arrayValue?.isEmpty == false,
                "the connect's site and stack: \(path)")
        #expect(trace.finalExit?["counts"]?.arrayValue?.contains {
            $0["rule"]?.stringValue == "verification-failed" && $0["action"]?.stringValue == "refuse" } == true)
    }

    @Test("TLS answered by the program's own server is logged tls/server-in-app with the client's connect")
    func serverInApp() throws {
        let tls = try TLSFixture()
        // The server's key is read from a file, which microkernel denies (tls/key-read): allowed here.
        let profile = try Self.profile(tls, extra: "  keys: allow")
        let (result, trace, path) = try Fixture.strictrun(profile: profile, ["/usr/bin/node", "--jitless", "-e", """
            const tls = require('tls'), fs = require('fs');
            const srv = tls.createServer({ key: fs.readFileSync('\(tls.path("server.key"))'),
                                           cert: fs.readFileSync('\(tls.path("server.pem"))') }, c => c.end('hi'));
            srv.listen(0, '127.0.0.1', () => {
              const s = tls.connect({ port: srv.address().port, host: '127.0.0.1', servername: 'localhost' });
              let got = ''; s.on('data', d => got += d);
              s.on('end', () => { console.log(got); srv.close(); });
              s.on('error', e => { console.log('ERR', e.code); srv.close(); });
            });
            """])
        #expect(result.stdout == "hi\n", "\(result.stdout)\(result.stderr)")
        let event = try #require(trace.policyEvents.first { $0["rule"]?.stringValue == "server-in-app" }, "\(path)")
        #expect(event["category"]?.stringValue == "tls" && event["action"]?.stringValue == "log")
        #expect(event["server_pid"]?.intValue == trace.first?["pid"]?.intValue ?? event["pid"]?.intValue)
        #expect(event["site"]?.stringValue != nil)
    }

    @Test("a mediated connection looks like the program's own: each side's peer is the other side's address")
    func peerAddresses() throws {
        let node = try Fixture.strictrun(profile: "microkernel", ["/usr/bin/node", "--jitless", "-e", """
            const net = require('net');
            let client;
            const srv = net.createServer(c => setTimeout(() => {
              console.log('server', c.remotePort === client.localPort && c.remoteAddress === client.localAddress);
              c.end('x'); }, 50));
            srv.listen(0, '127.0.0.1', () => {
              client = net.connect(srv.address().port, '127.0.0.1',
                                   () => console.log('client', client.remotePort === srv.address().port));
              client.on('data', () => {}); client.on('end', () => srv.close());
            });
            """])
        #expect(node.result.stdout == "client true\nserver true\n", "\(node.result.stdout)\(node.result.stderr)")
        #expect(node.trace.policyEvents.contains { $0["outcome"]?.stringValue == "routed" }, "the stream was mediated")
        let python = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", """
            import socket
            for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                s = socket.socket(family); s.bind((host, 0)); s.listen()
                c = socket.create_connection((host, s.getsockname()[1]))
                a, addr = s.accept()
                print(c.getpeername()[:2] == s.getsockname()[:2], addr[:2] == c.getsockname()[:2],
                      a.getpeername()[:2] == c.getsockname()[:2])
            """])
        #expect(python.result.stdout == "True True True\nTrue True True\n", "\(python.result.stdout)\(python.result.stderr)")
    }
}
