@testable import StrictrunPolicy
@testable import StrictrunSandbox
import StrictrunSystem
import StrictrunTrace
import Testing

/// A tracee made of data: memory regions, links and mappings a test sets up. Checks judge
/// synthetic stops against it, without a process.
struct FakeTracee: TraceeView {
    var memory: [UInt64: [UInt8]] = [:]
    var links: [[UInt8]: [UInt8]] = [:]
    var real: [[UInt8]: [UInt8]] = [:]
    var existing: Set<[UInt8]> = []
    var procfs: Set<[UInt8]> = []
    var mappings: [Mapping] = []

    func read(_ tid: ProcessID, at address: UInt64, count: Int) -> [UInt8] {
        for (start, bytes) in memory where address >= start && address < start + UInt64(bytes.count) {
            let offset = Int(address - start)
            return Array(bytes[offset..<min(bytes.count, offset + count)])
        }
        return []
    }
    func maps(_ pid: ProcessID) -> MemoryMaps? {
        MemoryMaps(mappings: mappings)
    }
    func region(_ pid: ProcessID, start: UInt64, length: UInt64) -> (allExecutable: Bool, shared: Bool)? {
        MemoryMaps(mappings: mappings).region(start: start, length: length)
    }
    func readLink(_ path: [UInt8]) -> [UInt8]? { links[path] }
    func realPath(_ path: [UInt8]) -> [UInt8]? { real[path] ?? (existing.contains(path) ? path : nil) }
    func fileSystemType(_ path: [UInt8]) -> Int? { procfs.contains(path) ? ProcFS.procSuperMagic : 0xef53 }
    func exists(_ path: [UInt8]) -> Bool { existing.contains(path) }
    var identities: [[UInt8]: FileIdentity] = [:]
    func identity(_ path: [UInt8], follow: Bool) -> FileIdentity? { identities[path] }
    var threadGroups: [ProcessID: ProcessID] = [:]
    var processGroups: [ProcessID: ProcessID] = [:]
    var descriptorProcesses: [Int32: ProcessID] = [:]
    func threadGroup(of tid: ProcessID) -> ProcessID? { threadGroups[tid] }
    func processGroup(of pid: ProcessID) -> ProcessID? { processGroups[pid] }
    func processOfDescriptor(pid: ProcessID, fd: Int32) -> ProcessID? { descriptorProcesses[fd] }
    var sharedMemorySizes: [Int32: UInt64] = [:]
    func sharedMemorySize(id: Int32) -> UInt64? { sharedMemorySizes[id] }
    var openDescriptors: [OpenDescriptor] = []
    /// Descriptors of processes other than the stopped one (100), which has `openDescriptors`.
    var perProcessDescriptors: [ProcessID: [OpenDescriptor]] = [:]
    var sealed: [Int32: Int32] = [:]
    func descriptors(_ pid: ProcessID, of file: FileIdentity) -> [OpenDescriptor] {
        (perProcessDescriptors[pid] ?? (pid == 100 ? openDescriptors : [])).filter { $0.file == file }
    }
    func descriptorFile(_ pid: ProcessID, fd: Int32) -> FileIdentity? { openDescriptors.first { $0.fd == fd }?.file }
    func seals(_ pid: ProcessID, fd: Int32) -> Int32? { sealed[fd] }
    /// What an open of a path (as the program passed it) reaches, and what a descriptor reaches.
    var files: [[UInt8]: FileRead] = [:]
    var descriptorFiles: [Int32: FileRead] = [:]
    func fileForOpen(_ path: [UInt8], dirfd: Int32, tid: ProcessID, followLast: Bool, limit: Int,
                     wanted: ([UInt8]) -> Bool) -> FileRead {
        Self.asRead(files[path] ?? .missing, limit: limit, wanted: wanted)
    }
    func descriptorContents(_ tid: ProcessID, fd: Int32, limit: Int, wanted: ([UInt8]) -> Bool) -> FileRead {
        Self.asRead(descriptorFiles[fd] ?? .unresolved(errno: Errno.noEntry), limit: limit, wanted: wanted)
    }
    /// As FileContents reads: nothing over the limit, nothing whose head is not wanted.
    static func asRead(_ file: FileRead, limit: Int, wanted: ([UInt8]) -> Bool) -> FileRead {
        guard case .read(let identity, let bytes) = file else { return file }
        return bytes.count > limit || !wanted(Array(bytes.prefix(4096))) ? .notRead(identity) : file
    }
}

/// Decisions of the checks on synthetic stops (no tracee, no ptrace): the verdict and the event.
@Suite("Checks on synthetic stops")
struct CheckTests {
    static func rule(_ category: String, _ name: String, _ action: StrictrunPolicy.Action, _ check: RuleCheck) -> CompiledRule {
        CompiledRule(id: 1, category: category, name: name, action: action, auditedFrom: nil, check: check, location: nil)
    }

    static func stop(_ name: String, _ args: [UInt64], ip: UInt64 = 0x1000, data: UInt16 = 1) -> SyscallStop {
        let number = UInt64(SyscallTable.number(name)!)
        return SyscallStop(tid: 100, tgid: 100, info: SyscallInfo(arch: SyscallABI.auditArchX86_64, number: number,
                                                                  arguments: args, instructionPointer: ip, ruleData: data))
    }

    static func little(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    @Test("W^X levels name the rule from the arguments and the mappings")
    func wxRuleNames() {
        let rwx: UInt64 = 7, rx: UInt64 = 5
        #expect(WXCheck.ruleName(number: SyscallNumber.mmap, args: [0, 4096, rwx, 0x22, 0, 0], level: .simultaneous) { (false, false) }
                == "wx-simultaneous")
        #expect(WXCheck.ruleName(number: SyscallNumber.mmap, args: [0, 4096, rx, 0x01, 3, 0], level: .simultaneous) { (false, false) }
                == "shared-exec")
        #expect(WXCheck.ruleName(number: SyscallNumber.mprotect, args: [0x1000, 4096, rx], level: .simultaneous) { (false, false) }
                == nil)
        #expect(WXCheck.ruleName(number: SyscallNumber.mprotect, args: [0x1000, 4096, rx], level: .noExecGain) { (false, false) }
                == "exec-gain")
        #expect(WXCheck.ruleName(number: SyscallNumber.mprotect, args: [0x1000, 4096, rx], level: .noExecGain) { (true, false) }
                == nil)
        #expect(WXCheck.ruleName(number: SyscallNumber.mprotect, args: [0x1000, 4096, rx], level: .simultaneous) { (true, true) }
                == "shared-exec")
    }

    @Test("openat2's flags are read from its open_how: writing, reading, unreadable (counts as writing)")
    func openat2Flags() {
        var tracee = FakeTracee()
        tracee.memory[0x5000] = Self.little(0o1 | 0o100) + Self.little(0o644) + Self.little(0)  // O_WRONLY|O_CREAT
        tracee.memory[0x6000] = Self.little(0) + Self.little(0) + Self.little(0)                  // O_RDONLY
        let memory = tracee.memory(100)
        #expect(OpenFlags.opensForWriting(syscall: "openat2", args: [0, 0x9000, 0x5000, 24, 0, 0], memory: memory))
        #expect(!OpenFlags.opensForWriting(syscall: "openat2", args: [0, 0x9000, 0x6000, 24, 0, 0], memory: memory))
        #expect(OpenFlags.opensForWriting(syscall: "openat2", args: [0, 0x9000, 0x7000, 24, 0, 0], memory: memory))
        #expect(OpenFlags.changesTree(syscall: "openat2", args: [0, 0x9000, 0x5000, 24, 0, 0], memory: memory))
        #expect(!OpenFlags.changesTree(syscall: "openat2", args: [0, 0x9000, 0x6000, 24, 0, 0], memory: memory))
        #expect(OpenFlags.changesTree(syscall: "creat", args: [0x9000, 0o644, 0, 0, 0, 0], memory: memory))
        #expect(!OpenFlags.changesTree(syscall: "statx", args: [0, 0x9000, 0, 0, 0, 0], memory: memory))
    }

    @Test("an open that passes is pinned with exactly the program's bytes, a non-UTF-8 name included")
    func pinsBytes() throws {
        let path: [UInt8] = Array("/tmp/f".utf8) + [0xff, 0xfe]
        var tracee = FakeTracee()
        tracee.memory[0x9000] = path + [0]
        let check = OpenCheck(keyFiles: [], procMemRule: Self.rule("wx", "proc-mem-write", .deny(errno: 13), .procMemOpen))
        let decision = check.decide(Self.stop("openat", [UInt64(bitPattern: -100), 0x9000, 0o1, 0, 0, 0]), view: tracee)
        let pin = try #require(decision.verdict.pin)
        #expect(pin.argument == 1)
        #expect(pin.bytes == path + [0])
        #expect(decision.events.isEmpty)
        guard case .allow = decision.verdict.action else { Issue.record("not allowed: \(decision.verdict.action)"); return }
    }

    @Test("/proc/self/mem opened for writing is denied by the proc-mem rule, with the path losslessly in the event")
    func procMemWrite() throws {
        let memPath = Array("/proc/100/mem".utf8)
        var tracee = FakeTracee()
        tracee.memory[0x9000] = Array("/proc/self/mem".utf8) + [0]
        tracee.existing = [memPath]
        tracee.procfs = [memPath]
        let rule = Self.rule("wx", "proc-mem-write", .deny(errno: 13), .procMemOpen)
        let decision = OpenCheck(keyFiles: [], procMemRule: rule)
            .decide(Self.stop("open", [0x9000, 0o2, 0, 0, 0, 0]), view: tracee)
        guard case .deny(let code) = decision.verdict.action else { Issue.record("not denied"); return }
        #expect(code == 13)
        #expect(decision.events.first?.rule.name == "proc-mem-write")
        #expect(decision.events.first?.decoded?.first?.1 == .string("/proc/self/mem"))
    }

    @Test("the fs view attributes a failure to its rule, and only a writing call to the read-only image")
    func viewRules() {
        let view = ConfinementView(mechanism: .landlock, hidden: ["/proc"], grants: [], grantedOnly: false,
                                   readOnlyImage: true, passthrough: [], isolated: false, tcpPorts: nil)
        let etc = Array("/etc/x".utf8)
        #expect(FSViewCheck.viewRule(errno: Errno.access, path: etc, writes: true, view: view, exists: { _ in false })?.0
                == "read-only-image")
        #expect(FSViewCheck.viewRule(errno: Errno.access, path: etc, writes: false, view: view, exists: { _ in false }) == nil)
        #expect(FSViewCheck.viewRule(errno: Errno.access, path: Array("/proc/cpuinfo".utf8), writes: false, view: view,
                                     exists: { _ in true })?.0 == "hidden")
        #expect(FSViewCheck.viewRule(errno: Errno.readOnlyFS, path: etc, writes: true, view: view, exists: { _ in true })?.0
                == "read-only-image")
    }

    @Test("unknown rule data is refused with ENOSYS and logged as escape/unknown-rule")
    func unknownRule() {
        let decision = Checks.unknownRule(Self.stop("getppid", [], data: 0x7777))
        guard case .deny(let code) = decision.verdict.action else { Issue.record("not denied"); return }
        #expect(code == Errno.noSys)
        #expect(decision.events.first?.rule.category == "escape")
        #expect(decision.events.first?.rule.name == "unknown-rule")
    }

    @Test("W^X emulation: W+X is rewritten to RW and logged; a stale trampoline flip is refused")
    func emulation() throws {
        let emulator = WXEmulator()
        emulator.processStarted(100, from: nil, sharesMemory: false)
        let check = WXEmulationCheck(emulator: emulator)
        let rule = Self.rule("wx", "wx", .deny(errno: 13), .wx(.emulate))
        let decision = check.decide(rule, Self.stop("mprotect", [0x10000, 8192, 7, 0, 0, 0]), tracee: FakeTracee())
        #expect(decision.verdict.rewrites.count == 1)
        #expect(decision.verdict.rewrites.first?.argument == 2)
        #expect(decision.verdict.rewrites.first?.value == 3)
        #expect(decision.verdict.failClosedErrno == 13)
        #expect(decision.events.first?.rule.name == "wx-emulated")
        #expect(decision.events.first?.rule.action == .log)
        let atExit = try #require(decision.verdict.atExit)
        _ = atExit(0)
        let space = try #require(emulator.space(100))
        #expect(space.pages.count == 2)
        space.trampoline = 0x7000
        // The trampoline asking for RX on a page the table holds RW: refused (EAGAIN).
        let flip = check.decide(rule, Self.stop("pkey_mprotect", [0x10000, 4096, 5, 0xffff_ffff, 0, 0], ip: 0x7002),
                                tracee: FakeTracee())
        guard case .deny(let code) = flip.verdict.action else { Issue.record("not refused"); return }
        #expect(code == Errno.again)
        #expect(flip.events.isEmpty)
    }

    @Test("a connect to a non-TLS port passes with the checked sockaddr bytes pinned")
    func connectPinned() throws {
        var tracee = FakeTracee()
        let sockaddr: [UInt8] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1] + Array(repeating: 0, count: 8)  // 127.0.0.1:8080
        tracee.memory[0x4000] = sockaddr
        let tls = TLSPolicy(ports: [443], action: RuleSetting(.route), relay: false, trustBundle: nil,
                            clientCertificates: [], latencyPerRecordMs: 0)
        let check = TLSConnectCheck(tls: tls, canRoute: false)
        let decision = check.decide(Self.rule("tls", "tls-port", .route, .tlsConnect),
                                    Self.stop("connect", [3, 0x4000, 16, 0, 0, 0]), tracee: tracee)
        let pin = try #require(decision.verdict.pin)
        #expect(pin.argument == 1)
        #expect(pin.bytes == sockaddr)
        #expect(decision.events.isEmpty)
    }

    @Test("arguments decode from the syscall table; a non-UTF-8 path gets its exact bytes as `_hex`")
    func decoding() {
        var tracee = FakeTracee()
        tracee.memory[0x9000] = [0x2f, 0x61, 0xff, 0]
        let decoded = ArgumentDecoder.decode(syscall: "mkdirat", args: [UInt64(bitPattern: -100), 0x9000, 0o755, 0, 0, 0],
                                             memory: tracee.memory(1))
        #expect(decoded.map(\.0) == ["dirfd", "path", "path_hex", "mode"])
        #expect(decoded[0].1 == .string("AT_FDCWD"))
        #expect(decoded[2].1 == .string("2f61ff"))
        #expect(decoded[3].1 == .string("0755"))
        let mmap = ArgumentDecoder.decode(syscall: "mmap", args: [0, 4096, 7, 0x22, UInt64.max, 0], memory: tracee.memory(1))
        #expect(mmap.first { $0.0 == "prot" }?.1 == .string("PROT_READ|PROT_WRITE|PROT_EXEC"))
        #expect(ArgumentDecoder.decode(syscall: "getpid", args: [1, 2, 3, 4, 5, 6], memory: tracee.memory(1)).count == 6)
    }
}
