import Foundation
@testable import StrictrunPolicy
@testable import StrictrunSandbox
import StrictrunSystem
import Testing

/// Key files made by the openssl CLI (and ssh-keygen), with the near misses a detector must
/// leave alone: certificates, public keys, comments and strings that mention a private key.
final class KeyFiles: @unchecked Sendable {
    let directory: URL

    init() throws {
        directory = try Fixture.temporaryDirectory()
        let result = try Fixture.run(["/bin/bash", "-c", """
            set -e
            cd '\(directory.path)'
            {
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem
            openssl req -x509 -key key.pem -out cert.pem -days 2 -subj /CN=localhost
            openssl x509 -in cert.pem -outform DER -out cert.der
            openssl genrsa -traditional -out rsa.pem 2048
            openssl ec -in key.pem -out sec1.pem
            openssl pkcs8 -topk8 -in key.pem -passout pass:x -out encrypted.pem
            openssl rsa -in rsa.pem -aes128 -passout pass:x -traditional -out rsa-encrypted.pem
            openssl pkcs8 -topk8 -nocrypt -in rsa.pem -outform DER -out pkcs8.der
            openssl rsa -in rsa.pem -traditional -outform DER -out pkcs1.der
            openssl ec -in key.pem -outform DER -out sec1.der
            openssl pkcs8 -topk8 -in key.pem -passout pass:x -outform DER -out encrypted.der
            openssl pkey -in key.pem -pubout -out public.pem
            openssl pkey -in key.pem -pubout -outform DER -out public.der
            ssh-keygen -q -t ed25519 -N '' -f id_ed25519
            } >/dev/null 2>&1
            cat cert.pem key.pem > chain-and-key.pem
            { printf '# The PRIVATE KEY for this service is provisioned by the broker.\\n'; cat cert.pem; } > comment.pem
            printf 'const key = "-----BEGIN PRIVATE KEY-----\\\\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\\\\n-----END PRIVATE KEY-----\\\\n";\\n' > string.js
            printf 'A key looks like this:\\n-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n' > README.txt
            { printf '\\x30\\x82\\x01\\x00'; head -c 256 /dev/urandom; } > random.bin
            """])
        try #require(result.status == 0, "openssl: \(result.stderr)")
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: directory.appendingPathComponent(name))) }
}

/// `KeyMaterial` on real key files and near misses, and `KeyReadCheck` on synthetic stops.
@Suite("Private-key material")
struct KeyMaterialTests {
    @Test("PEM and DER private keys made by openssl and ssh-keygen are key material, named by format")
    func keys() throws {
        let files = try KeyFiles()
        let expected = [
            "key.pem": "PEM PRIVATE KEY", "rsa.pem": "PEM RSA PRIVATE KEY", "sec1.pem": "PEM EC PRIVATE KEY",
            "encrypted.pem": "PEM ENCRYPTED PRIVATE KEY", "rsa-encrypted.pem": "PEM RSA PRIVATE KEY",
            "id_ed25519": "PEM OPENSSH PRIVATE KEY", "chain-and-key.pem": "PEM PRIVATE KEY",
            "pkcs8.der": "DER PKCS#8", "pkcs1.der": "DER PKCS#1 RSA", "sec1.der": "DER SEC1 EC",
            "encrypted.der": "DER PKCS#8 encrypted",
        ]
        for (name, format) in expected {
            #expect(KeyMaterial.find(in: try files.bytes(name))?.format == format, "\(name)")
        }
        // CRLF line ends, as a file edited on Windows has them.
        let crlf = String(decoding: try files.bytes("rsa.pem"), as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n")
        #expect(KeyMaterial.find(in: Array(crlf.utf8))?.format == "PEM RSA PRIVATE KEY")
    }

    @Test("near misses are not key material: certificates, public keys, comments, strings, random bytes starting 0x30")
    func nearMisses() throws {
        let files = try KeyFiles()
        for name in ["cert.pem", "cert.der", "public.pem", "public.der", "id_ed25519.pub", "comment.pem", "string.js",
                     "README.txt", "random.bin"] {
            #expect(KeyMaterial.find(in: try files.bytes(name)) == nil, "\(name)")
        }
        // A block cut short, or closed by another label, is not one.
        let key = String(decoding: try files.bytes("key.pem"), as: UTF8.self)
        let cut = key.replacingOccurrences(of: "-----END PRIVATE KEY-----", with: "")
        #expect(KeyMaterial.find(in: Array(cut.utf8)) == nil)
        let mismatched = key.replacingOccurrences(of: "-----END PRIVATE KEY-----", with: "-----END CERTIFICATE-----")
        #expect(KeyMaterial.find(in: Array(mismatched.utf8)) == nil)
        // DER with a byte more at the end is not one DER object.
        #expect(KeyMaterial.find(in: try files.bytes("pkcs8.der") + [0]) == nil)
        // An ELF image is not worth reading past its head.
        #expect(!KeyMaterial.worthReading(head: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]))
        #expect(KeyMaterial.worthReading(head: Array("-----BEGIN".utf8)))
    }

    @Test("FileContents: regular files read, FIFOs, directories and large files not opened for reading, magic links unresolved")
    func fileContents() throws {
        let files = try KeyFiles()
        #expect(mkfifo(files.path("fifo"), 0o600) == 0)
        let directory = open(files.directory.path, O_RDONLY | O_DIRECTORY)
        defer { close(directory) }
        let base = Array("/proc/self/fd/\(directory)".utf8), root = Array("/proc/self/root".utf8)
        func read(_ path: String, limit: Int = 1 << 20, follow: Bool = true) -> FileRead {
            FileContents.read(Array(path.utf8), root: root, directory: base, followLast: follow, limit: limit,
                              wanted: KeyMaterial.worthReading)
        }
        guard case .read(_, let key) = read("key.pem") else { Issue.record("key.pem not read"); return }
        #expect(key == (try files.bytes("key.pem")))
        guard case .read = read(files.path("cert.pem")) else { Issue.record("absolute path not read"); return }
        for name in ["fifo", ".", "/usr/bin/python3"] {  // never blocks on the FIFO; ELF not read past its head
            guard case .notRead = read(name) else { Issue.record("\(name): \(read(name))"); continue }
        }
        guard case .notRead = read("key.pem", limit: 100) else { Issue.record("over the limit"); return }
        #expect(read("missing") == .missing)
        #expect(read("/proc/self/fd/\(directory)") == .unresolved(errno: ELOOP), "a magic link")
        // `..` out of the directory: looked up again from the root (this process's root is strictrun's).
        guard case .read = read("../\(files.directory.lastPathComponent)/key.pem") else { Issue.record("..: not read"); return }
        // O_NOFOLLOW on a symlink: the link itself, not its target.
        #expect(symlink(files.path("key.pem"), files.path("link")) == 0)
        guard case .notRead = read("link", follow: false) else { Issue.record("a symlink was followed"); return }
    }

    // MARK: the check

    static let keyRule = CheckTests.rule("tls", "key-read", .deny(errno: 13), .keyRead)
    static let cwd = UInt64(bitPattern: Int64(atCurrentDirectory))

    /// An OpenCheck with only the key rule (as under a profile without W^X) and a tracee whose
    /// `key.pem` holds a key and `notes.txt` does not.
    static func setUp(rule: CompiledRule = keyRule, alone: Bool = true) throws -> (OpenCheck, FakeTracee) {
        let files = try KeyFiles()
        var tracee = FakeTracee()
        tracee.memory[0x9000] = Array("key.pem".utf8) + [0]
        tracee.memory[0xa000] = Array("notes.txt".utf8) + [0]
        tracee.files[Array("key.pem".utf8)] = .read(FileIdentity(device: 1, inode: 1), try files.bytes("key.pem"))
        tracee.files[Array("notes.txt".utf8)] = .read(FileIdentity(device: 1, inode: 2), Array("hello\n".utf8))
        let company = TracedCompany()
        company.isAlone = { _ in alone }
        var check = OpenCheck(keyFiles: [], procMemRule: nil)
        check.tamper = TraceTamperCheck(trace: nil, company: company)
        check.keyRead = KeyReadCheck(rule: rule, company: company)
        return (check, tracee)
    }

    @Test("an open that can read a key file is refused with the rule's errno and an event naming the format")
    func refused() throws {
        let (check, tracee) = try Self.setUp()
        let opens: [(String, [UInt64])] = [("openat", [Self.cwd, 0x9000, 0, 0, 0, 0]), ("open", [0x9000, 0o2, 0, 0, 0, 0]),
                                           ("openat", [Self.cwd, 0x9000, 0o2000000 | 0o4000, 0, 0, 0])]  // O_CLOEXEC|O_NONBLOCK
        for (name, args) in opens {
            let decision = check.decide(CheckTests.stop(name, args), view: tracee)
            guard case .deny(let code) = decision.verdict.action else { Issue.record("\(name) \(args[1]) passed"); continue }
            #expect(code == 13)
            let event = try #require(decision.events.first)
            #expect(event.rule.category == "tls" && event.rule.name == "key-read" && event.withStack)
            #expect(event.extra.first { $0.0 == "key_format" }?.1.stringValue == "PEM PRIVATE KEY")
            #expect(event.decoded?.first?.1.stringValue == "key.pem")
        }
        // Opens that cannot read the content: write-only, O_PATH, O_DIRECTORY.
        for flags: UInt64 in [0o1, 0o10000000, 0o200000] {
            let decision = check.decide(CheckTests.stop("openat", [Self.cwd, 0x9000, flags, 0, 0, 0]), view: tracee)
            #expect(decision.events.isEmpty, "flags \(String(flags, radix: 8))")
        }
        // Alone under the tracer: no other thread could swap the path or the file, so neither a pin
        // nor an exit stop; with company, both.
        let plain = check.decide(CheckTests.stop("openat", [Self.cwd, 0xa000, 0, 0, 0, 0]), view: tracee)
        #expect(plain.events.isEmpty && plain.verdict.pin == nil && plain.verdict.atExit == nil)
        let (crowded, _) = try Self.setUp(alone: false)
        let raced = crowded.decide(CheckTests.stop("openat", [Self.cwd, 0xa000, 0, 0, 0, 0]), view: tracee)
        #expect(raced.events.isEmpty && raced.verdict.pin != nil && raced.verdict.atExit != nil)
    }

    @Test("a rule that only logs (audit): the open runs and is logged")
    func logged() throws {
        var rule = Self.keyRule
        rule.action = .log
        rule.auditedFrom = .deny(errno: 13)
        let (check, tracee) = try Self.setUp(rule: rule)
        let decision = check.decide(CheckTests.stop("openat", [Self.cwd, 0x9000, 0, 0, 0, 0]), view: tracee)
        guard case .allow = decision.verdict.action else { Issue.record("not allowed"); return }
        #expect(decision.events.first?.rule.action == .log && decision.events.first?.rule.name == "key-read")
    }

    @Test("with company, the descriptor opened is judged again at the exit stop: a key swapped in ends the process")
    func swappedAfterCheck() throws {
        let (check, setUp) = try Self.setUp(alone: false)
        var tracee = setUp
        let files = try KeyFiles()
        let notes = FileIdentity(device: 1, inode: 2)
        tracee.openDescriptors = [OpenDescriptor(fd: 5, file: notes, writable: false),
                                  OpenDescriptor(fd: 6, file: FileIdentity(device: 1, inode: 9), writable: false)]
        tracee.descriptorFiles[6] = .read(FileIdentity(device: 1, inode: 9), try files.bytes("pkcs1.der"))
        let decision = check.decide(CheckTests.stop("openat", [Self.cwd, 0xa000, 0, 0, 0, 0]), view: tracee)
        let atExit = try #require(decision.verdict.atExit)
        #expect(atExit(5).isEmpty, "the file that was checked")
        let swapped = atExit(6)
        #expect(swapped.first?.rule.name == "key-read" && swapped.first?.rule.action == .kill)
        #expect(swapped.first?.extra.first { $0.0 == "key_format" }?.1.stringValue == "DER PKCS#1 RSA")
        #expect(atExit(-2).isEmpty, "a failed open opened nothing")
    }

    @Test("a path that cannot be looked up as the program would (a magic link) is judged by its descriptor, alone or not")
    func magicLink() throws {
        var (check, tracee) = try Self.setUp(alone: true)
        let files = try KeyFiles()
        tracee.memory[0xb000] = Array("/dev/stdin".utf8) + [0]
        tracee.files[Array("/dev/stdin".utf8)] = .unresolved(errno: 40)  // ELOOP: /proc/self/fd/0
        tracee.descriptorFiles[3] = .read(FileIdentity(device: 1, inode: 1), try files.bytes("sec1.pem"))
        let decision = check.decide(CheckTests.stop("openat", [Self.cwd, 0xb000, 0, 0, 0, 0]), view: tracee)
        #expect(decision.events.isEmpty)
        let atExit = try #require(decision.verdict.atExit)
        #expect(atExit(3).first?.rule.action == .kill)
        tracee.descriptorFiles[3] = .read(FileIdentity(device: 1, inode: 1), Array("plain text\n".utf8))
        check = try Self.setUp(alone: true).0
        let text = try #require(check.decide(CheckTests.stop("openat", [Self.cwd, 0xb000, 0, 0, 0, 0]), view: tracee).verdict.atExit)
        #expect(text(3).isEmpty)
    }

    @Test("the client-certificate key rule is checked first; a large or non-regular file is not read")
    func orderAndLimits() throws {
        var (check, tracee) = try Self.setUp()
        tracee.real[Array("/proc/100/cwd".utf8)] = Array("/srv".utf8)
        tracee.existing = [Array("/srv/key.pem".utf8)]
        check = OpenCheck(keyFiles: [Array("/srv/key.pem".utf8)], procMemRule: nil, clientKeyRule:
                              CheckTests.rule("tls", "client-key", .deny(errno: 13), .clientKeyOpen), keyRead: check.keyRead)
        let decision = check.decide(CheckTests.stop("openat", [Self.cwd, 0x9000, 0, 0, 0, 0]), view: tracee)
        #expect(decision.events.first?.rule.name == "client-key")
        var large = try KeyFiles().bytes("key.pem")
        large += Array(repeating: UInt8(ascii: "\n"), count: KeyReadCheck.limit)
        tracee.files[Array("notes.txt".utf8)] = .read(FileIdentity(device: 1, inode: 2), large)
        #expect(check.decide(CheckTests.stop("openat", [Self.cwd, 0xa000, 0, 0, 0, 0]), view: tracee).events.isEmpty)
    }

    @Test("the filter: microkernel traces the opens that can read under key-read, not O_PATH/O_DIRECTORY; views trace every open")
    func filter() throws {
        let loader = ProfileLoader(searchPath: [Fixture.profilesDirectory], syscallExists: { SyscallNames.exists($0) })
        let micro = try FilterCompiler().compile(loader.load("microkernel"))
        let cwd: UInt64 = 0xffff_ff9c
        #expect(try FilterTests.verdict(micro, "openat", [cwd, 0x1000, 0o2000000]).1?.check == .keyRead)  // O_RDONLY|O_CLOEXEC
        #expect(try FilterTests.verdict(micro, "open", [0x1000, 0]).1?.check == .keyRead)
        #expect(try FilterTests.verdict(micro, "openat", [cwd, 0x1000, 2]).1?.check == .procMemOpen, "O_RDWR: the writing rule")
        for flags: UInt64 in [0o10000000, 0o200000 | 0o2000000, 0o20200000] {  // O_PATH, O_DIRECTORY, O_TMPFILE
            #expect(try FilterTests.verdict(micro, "openat", [cwd, 0x1000, flags]).0.action == 0x7fff_0000,
                    "flags \(String(flags, radix: 8)) stay in the kernel")
        }
        #expect(micro.rules.values.first { $0.check == .keyRead }?.action == .deny(errno: 13))
        // genode turns connect routing off but keeps key-read; its view traces every open.
        let genode = try FilterCompiler().compile(loader.load("genode"))
        #expect(genode.rules.values.contains { $0.check == .keyRead })
        #expect(try FilterTests.verdict(genode, "openat", [cwd, 0x1000, 0]).1?.check == .fsNet(.pathResult))
        // A view with client certificates: every open under the view's rule (whose stop runs the
        // client-key and key-read checks too), the client-key rule without filter entries of its own.
        let files = try KeyFiles()
        let withKeys = try FilterCompiler().compile(RuleListTests.profile("""
            extends: genode
            tls:
              action: route
              client-certificates:
                - {host: localhost, certificate: \(files.path("cert.pem")), key: \(files.path("key.pem"))}
            """))
        #expect(withKeys.rules.values.contains { $0.check == .clientKeyOpen })
        for call in ["open", "openat", "openat2", "creat"] {
            #expect(try FilterTests.verdict(withKeys, call, [cwd, 0x1000, 0, 24]).1?.check == .fsNet(.pathResult), "\(call)")
        }
        // audit: logged.
        let audit = try FilterCompiler().compile(loader.load("audit"))
        let rule = try #require(audit.rules.values.first { $0.check == .keyRead })
        #expect(rule.action == .log && rule.auditedFrom == .deny(errno: 13))
    }
}
