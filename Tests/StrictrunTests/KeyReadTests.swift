import Foundation
import StrictrunTrace
import Testing

/// `tls/key-read` with real programs: on the target, private keys are the trusted component's,
/// so an app's read of a key file is denied (EACCES under `microkernel`) and logged with its stack.
@Suite("Keys out of the app")
struct KeyReadTests {
    static func keyReads(_ trace: [JSONValue]) -> [JSONValue] {
        trace.policyEvents.filter { $0["category"]?.stringValue == "tls" && $0["rule"]?.stringValue == "key-read" }
    }

    @Test("Node: fs.readFileSync('key.pem') fails with EACCES, logged with its stack, site and path; the certificate reads")
    func nodeReadFileSync() throws {
        let files = try KeyFiles()
        let script = """
            const fs = require('fs');
            try { fs.readFileSync('key.pem'); console.log('read the key'); } catch (e) { console.log(e.code); }
            console.log(fs.readFileSync('cert.pem', 'utf8').includes('BEGIN CERTIFICATE'));
            """
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", ["/usr/bin/node", "--jitless", "-e", script],
                                                          directory: files.directory)
        #expect(result.stdout == "EACCES\ntrue\n", "\(result.stderr)")
        let events = Self.keyReads(trace)
        #expect(events.count == 1, "\(path)")
        let event = try #require(events.first)
        #expect(event["action"]?.stringValue == "deny")
        #expect(event["errno"]?.stringValue == "EACCES")
        #expect(event["args"]?["path"]?.stringValue == "key.pem")
        #expect(event["key_format"]?.stringValue == "PEM PRIVATE KEY")
        #expect(event["reason"]?.stringValue?.contains("trusted component") == true)
        #expect((event["stack"]?.arrayValue?.count ?? 0) > 3, "the read's stack")
        let site = event["site"]?.stringValue ?? ""
        #expect(!site.isEmpty)
    }

    @Test("Python: ssl load_cert_chain(cert, key) fails and is logged; a certificate-only file loads and logs nothing")
    func pythonLoadCertChain() throws {
        let files = try KeyFiles()
        let script = """
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                ctx.load_cert_chain('cert.pem', 'key.pem'); print('loaded')
            except PermissionError: print('PermissionError')
            except ssl.SSLError as e: print('SSLError')
            client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client.load_verify_locations('cert.pem'); print('verify locations loaded')
            """
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", script],
                                                          directory: files.directory)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2 && ["PermissionError", "SSLError"].contains(lines.first ?? ""), "\(result.stdout)\(result.stderr)")
        #expect(lines.last == "verify locations loaded")
        let events = Self.keyReads(trace)
        #expect(events.count == 1, "\(path)")
        #expect(events.first?["errno"]?.stringValue == "EACCES")
        #expect(events.first?["args"]?["path"]?.stringValue == "key.pem")
        #expect((events.first?["stack"]?.arrayValue?.count ?? 0) > 3)
    }

    @Test("DER keys (PKCS#8, PKCS#1) are denied, certificates in DER and PEM are not; under microkernel and genode (fs view)",
          arguments: ["microkernel", "genode"])
    func derKeys(profile: String) throws {
        let files = try KeyFiles()
        let script = """
            for name in ['pkcs8.der', 'pkcs1.der', 'cert.der', 'cert.pem']:
                try:
                    with open(name, 'rb') as f: print(name, len(f.read()) > 0)
                except PermissionError: print(name, 'EACCES')
            """
        let (result, trace, path) = try Fixture.strictrun(profile: profile, [Fixture.python, "-c", script],
                                                          directory: files.directory)
        #expect(result.stdout == "pkcs8.der EACCES\npkcs1.der EACCES\ncert.der True\ncert.pem True\n", "\(result.stderr)")
        let formats = Self.keyReads(trace).map { $0["key_format"]?.stringValue ?? "?" }
        #expect(formats == ["DER PKCS#8", "DER PKCS#1 RSA"], "\(path)")
    }

    @Test("a relative path that climbs out of its directory (../key.pem, a symlink to it) is denied too, not ended")
    func relativeClimb() throws {
        let files = try KeyFiles()
        let sub = files.directory.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: sub.appendingPathComponent("k").path, withDestinationPath: files.path("key.pem"))
        let script = """
            for name in ['../key.pem', 'k', '../cert.pem']:
                try: print(name, len(open(name).read()) > 0)
                except PermissionError: print(name, 'EACCES')
            """
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", script], directory: sub)
        #expect(result.stdout == "../key.pem EACCES\nk EACCES\n../cert.pem True\n", "\(result.stderr)")
        #expect(Self.keyReads(trace).map { $0["action"]?.stringValue ?? "?" } == ["deny", "deny"], "\(path)")
    }

    @Test("audit: the key is read and the event says log")
    func audit() throws {
        let files = try KeyFiles()
        let (result, trace, path) = try Fixture.strictrun(profile: "audit", [Fixture.python, "-c",
            "print(open('key.pem').read().startswith('-----BEGIN PRIVATE KEY-----'))"], directory: files.directory)
        #expect(result.stdout == "True\n", "\(result.stderr)")
        let event = try #require(Self.keyReads(trace).first, "\(path)")
        #expect(event["action"]?.stringValue == "log")
        #expect(event["errno"] == nil)
        #expect(event["audited"]?.stringValue == "deny(EACCES)")
    }

    @Test("a key reached through a magic link (/proc/self/fd/N of an O_PATH descriptor) is judged by the descriptor: the process ends")
    func magicLink() throws {
        let files = try KeyFiles()
        let script = """
            import os, sys
            name = sys.argv[1]
            fd = os.open(name, os.O_PATH)
            data = open('/proc/self/fd/%d' % fd).read()
            print(name, 'read', len(data) > 0)
            """
        let cert = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", script, "cert.pem"],
                                         directory: files.directory)
        #expect(cert.result.stdout == "cert.pem read True\n", "\(cert.result.stderr)")
        #expect(Self.keyReads(cert.trace).isEmpty)
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", script, "key.pem"],
                                                          directory: files.directory)
        #expect(result.status == 137, "SIGKILL: \(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("read"))
        let event = try #require(Self.keyReads(trace).first, "\(path)")
        #expect(event["action"]?.stringValue == "kill")
        #expect(event["key_format"]?.stringValue == "PEM PRIVATE KEY")
    }

    @Test("a symlink swapped between a certificate and a key while another thread opens it: the key is never read unnoticed")
    func swappedSymlink() throws {
        let files = try KeyFiles()
        let script = """
            import os, threading
            os.symlink('cert.pem', 'link')
            stop = False
            def swap():
                while not stop:
                    for target in ('key.pem', 'cert.pem'):
                        os.symlink(target, 'link.new'); os.replace('link.new', 'link')
            threading.Thread(target=swap, daemon=True).start()
            denied = 0
            for _ in range(1500):
                try:
                    with open('link') as f:
                        if 'PRIVATE KEY' in f.read(): print('LEAK'); break
                except PermissionError: denied += 1
            stop = True
            print('denied some', denied > 0)
            """
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", script],
                                                          directory: files.directory)
        #expect(!result.stdout.contains("LEAK"), "\(path)")
        let events = Self.keyReads(trace)
        #expect(!events.isEmpty, "\(path)")
        if result.status == 137 {
            // The swap landed between a check and its open: ended at the exit stop.
            #expect(events.last?["action"]?.stringValue == "kill")
        } else {
            #expect(result.stdout == "denied some True\n", "\(result.stderr)")
            #expect(events.allSatisfy { $0["action"]?.stringValue == "deny" })
        }
    }
}
