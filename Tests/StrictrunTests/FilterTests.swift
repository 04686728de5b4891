import Foundation
import StrictrunPolicy
import StrictrunSandbox
import StrictrunSystem
import Testing

/// The fast tier: each compiled filter run in the BPF simulator, call by call
/// (arch, syscall, args → action), as libseccomp's own tests do.
@Suite("Compiled filters")
struct FilterTests {
    static func compile(_ name: String, audit: Bool = false) throws -> CompiledPolicy {
        var profile = try ProfileTests.loader.load(name)
        if audit { profile.mode = .audit }
        return try FilterCompiler().compile(profile)
    }

    static func nr(_ name: String) -> Int32 { SyscallNames.number(name)! }

    /// The verdict for one call, and the rule the tracer would look up.
    static func verdict(_ policy: CompiledPolicy, _ name: String, _ args: [UInt64] = [],
                        arch: UInt32 = SyscallNames.archX86_64, nr: Int32? = nil) throws
        -> (BPFSimulator.Verdict, CompiledRule?) {
        let v = try BPFSimulator(policy.program).run(arch: arch, nr: nr ?? Self.nr(name), args: args)
        return (v, v.action == 0x7ff0_0000 ? policy.rules[v.data] : nil)
    }

    static let forkFlags: UInt64 = 0x0120_0011  // CHILD_SETTID|CHILD_CLEARTID|SIGCHLD (glibc fork)
    static let threadFlags: UInt64 = 0x003d_0f00  // pthread_create's clone flags
    static let vforkFlags: UInt64 = 0x4111  // CLONE_VM|CLONE_VFORK|SIGCHLD (posix_spawn)
    static let rwx: UInt64 = 7, rw: UInt64 = 3, rx: UInt64 = 5

    @Test("microkernel: fork traced, threads and spawn in-kernel ALLOW, clone3 ENOSYS, W+X traced")
    func microkernel() throws {
        let p = try Self.compile("microkernel")
        #expect(try Self.verdict(p, "clone", [Self.forkFlags]).1?.name == "fork")
        #expect(try Self.verdict(p, "fork").1?.name == "fork")
        #expect(try Self.verdict(p, "clone", [Self.threadFlags]).0 == .allow)
        #expect(try Self.verdict(p, "clone", [Self.vforkFlags]).0 == .allow)
        #expect(try Self.verdict(p, "vfork").0 == .allow)
        #expect(try Self.verdict(p, "clone3").0 == .errno(ENOSYS))
        #expect(try Self.verdict(p, "execve").0 == .allow)
        let privateAnon: UInt64 = 0x22, shared: UInt64 = 0x01
        for call in ["mmap", "mprotect", "pkey_mprotect"] {
            #expect(try Self.verdict(p, call, [0, 4096, Self.rwx, privateAnon]).1?.check == .wx(.simultaneous))
            #expect(try Self.verdict(p, call, [0, 4096, Self.rw, privateAnon]).0 == .allow)
            // PROT_GROWSDOWN etc. in high bits do not hide W+X.
            #expect(try Self.verdict(p, call, [0, 4096, 0x0100_0007, privateAnon]).1?.category == "wx")
        }
        // A fresh private RX mapping is fine; an executable shared view is not.
        #expect(try Self.verdict(p, "mmap", [0, 4096, Self.rx, privateAnon]).0 == .allow)
        #expect(try Self.verdict(p, "mmap", [0, 4096, Self.rx, shared]).1?.category == "wx")
        // mprotect(RX) reaches the tracer, which reads the mappings (shared? gain?).
        #expect(try Self.verdict(p, "mprotect", [0, 4096, Self.rx]).1?.check == .wx(.simultaneous))
        #expect(try Self.verdict(p, "shmat", [1, 0, 0o100000]).1?.name == "shm-exec")
        #expect(try Self.verdict(p, "shmat", [1, 0, 0]).0 == .allow)
        #expect(try Self.verdict(p, "remap_file_pages").1?.category == "wx")
        #expect(try Self.verdict(p, "io_uring_setup").1?.category == "escape")
        // Side doors out of the tracer.
        #expect(try Self.verdict(p, "clone", [Self.threadFlags | 0x80_0000]).1?.name == "untraced-clone")
        #expect(try Self.verdict(p, "clone", [Self.forkFlags | 0x80_0000]).1?.name == "untraced-clone")
        #expect(try Self.verdict(p, "ptrace", [0]).1?.name == "ptrace")
        #expect(try Self.verdict(p, "process_vm_writev").1?.name == "process-vm-writev")
        #expect(try Self.verdict(p, "personality", [0x0400000]).1?.name == "read-implies-exec")
        // A query reaches the tracer (bit 31 and the flag set) and PersonalityCheck lets it pass.
        #expect(try Self.verdict(p, "personality", [0xffff_ffff]).1?.check == .personality, "a query")
        #expect(try Self.verdict(p, "personality", [0x8040_0000]).1?.name == "read-implies-exec", "bit 31 is no query")
        #expect(try Self.verdict(p, "personality", [0]).0 == .allow)
        #expect(try Self.verdict(p, "seccomp", [1]).1?.action == .log)
        #expect(try Self.verdict(p, "prctl", [38]).1?.name == "seccomp")
        #expect(try Self.verdict(p, "prctl", [15]).0 == .allow, "PR_SET_NAME")
        // Untouched calls never leave the kernel; an open that can read a file does (tls.keys:
        // key material is the broker's), a directory open does not.
        for call in ["read", "write", "futex", "getpid"] {
            #expect(try Self.verdict(p, call).0 == .allow)
        }
        #expect(try Self.verdict(p, "openat", [0xffff_ff9c, 0x1000, 0o200000]).0 == .allow, "O_DIRECTORY")
        #expect(try Self.verdict(p, "openat", [0xffff_ff9c, 0x1000, 0]).1?.name == "key-read")
        // TLS ports are routed to the broker: BPF cannot read the sockaddr, so every connect is traced.
        #expect(try Self.verdict(p, "connect").1?.check == .tlsConnect)
    }

    /// `run --filter-only` (the benchmarks' plain-filter floor): the same program with no tracer behind it.
    @Test("the untraced program allows what the program traces and answers everything else the same")
    func untracedProgram() throws {
        let p = try Self.compile("microkernel")
        let untraced = BPFSimulator(p.untracedProgram)
        #expect(p.untracedProgram.count == p.program.count)
        #expect(!p.untracedProgram.contains { $0.code == 0x06 && $0.k & 0xffff_0000 == 0x7ff0_0000 })
        let privateAnon: UInt64 = 0x22
        let calls: [(String, [UInt64])] = [("openat", [0, 0, 0]), ("mmap", [0, 4096, Self.rwx, privateAnon]),
                                           ("clone", [Self.forkFlags]), ("clone3", []), ("getpid", []),
                                           ("io_uring_setup", [])]
        for (name, args) in calls {
            let traced = try Self.verdict(p, name, args).0
            let plain = try untraced.run(arch: SyscallNames.archX86_64, nr: Self.nr(name), args: args)
            if traced.action == 0x7ff0_0000 { #expect(plain == .allow, "\(name)") } else { #expect(plain == traced, "\(name)") }
        }
        #expect(try Self.verdict(p, "openat", [0, 0, 0]).0.action == 0x7ff0_0000, "microkernel traces opens")
    }

    @Test("every enforcing profile sends other ABIs (i386, x32) to the tracer")
    func foreign() throws {
        let i386ForkNumber: Int32? = SyscallTable.i386Number("fork")
        let forkNumber: Int32? = SyscallTable.number("fork")
        let i386ForkNr = try #require(i386ForkNumber)
        let forkNr = try #require(forkNumber)
        for name in ["microkernel", "microkernel-strict", "apple-jit", "audit"] {
            let p = try Self.compile(name)
            let i386Fork = try Self.verdict(p, "", arch: SyscallNames.archI386, nr: i386ForkNr)
            #expect(i386Fork.1?.name == "foreign-abi", "\(name): \(i386Fork.0)")
            let x32 = try Self.verdict(p, "", nr: Int32(SyscallABI.x32Bit) | forkNr)
            #expect(x32.0.action != 0x7fff_0000, "\(name): x32 fork is not allowed (\(x32.0))")
        }
    }

    @Test("microkernel-strict: spawn and exec traced; mprotect(PROT_EXEC) goes to the exec-gain check")
    func strict() throws {
        let p = try Self.compile("microkernel-strict")
        #expect(try Self.verdict(p, "clone", [Self.vforkFlags]).1?.name == "spawn")
        #expect(try Self.verdict(p, "vfork").1?.name == "spawn")
        #expect(try Self.verdict(p, "execve").1?.check == .execAfterFirst)
        #expect(try Self.verdict(p, "execveat").1?.check == .execAfterFirst)
        #expect(try Self.verdict(p, "clone", [Self.threadFlags]).0 == .allow)
        #expect(try Self.verdict(p, "mprotect", [0, 4096, Self.rx]).1?.check == .wx(.noExecGain))
        #expect(try Self.verdict(p, "mprotect", [0, 4096, Self.rw]).0 == .allow)
        #expect(try Self.verdict(p, "mmap", [0, 4096, Self.rx, 0x22]).0 == .allow, "mapping RX is not a gain")
        #expect(try Self.verdict(p, "mmap", [0, 4096, Self.rwx, 0x22]).1?.check == .wx(.noExecGain))
        #expect(p.kernelMDWE)
    }

    @Test("audit: the same rules as microkernel-strict, every one logged, kernel MDWE off")
    func audit() throws {
        let p = try Self.compile("audit")
        #expect(!p.rules.isEmpty)
        for rule in p.rules.values {
            #expect(rule.action == .log)
            // Every rule that would block elsewhere says so; seccomp changes and TLS ports
            // (audit.yaml logs them instead of routing) are logged anyway.
            #expect((rule.auditedFrom != nil) == !["seccomp", "tls-port"].contains(rule.name), "\(rule.name)")
        }
        #expect(!p.kernelMDWE)
        // --audit on microkernel does the same; routing TLS denies nothing, so it stays.
        let audited = try Self.compile("microkernel", audit: true)
        // Routing denies nothing, and a routed socket's getpeername (`peer-name`) is bookkeeping: both stay.
        #expect(audited.rules.values.allSatisfy {
            $0.action == ($0.name == "tcp-stream" ? .route : $0.name == "peer-name" ? .allow : .log) })
    }

    @Test("apple-jit: fork is not traced at all")
    func appleJIT() throws {
        let p = try Self.compile("apple-jit")
        #expect(try Self.verdict(p, "clone", [Self.forkFlags]).0 == .allow)
        #expect(try Self.verdict(p, "clone3").0 == .errno(ENOSYS), "untraced-clone needs clone's flags")
        #expect(try Self.verdict(p, "mmap", [0, 4096, Self.rwx]).1?.category == "wx")
    }
}
