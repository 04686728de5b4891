@testable import StrictrunPolicy
@testable import StrictrunSandbox
import StrictrunSystem
import StrictrunTrace
import Testing

/// The checks that close side doors, on synthetic stops.
@Suite("Hardening checks on synthetic stops")
struct HardeningCheckTests {
    static let logRule = CheckTests.rule("escape", "seccomp", .log, .seccompFilter)

    /// A tracee holding `program` at 0xa000 and its `struct sock_fprog` at 0x9000.
    static func tracee(_ program: [BPFInstruction]) -> FakeTracee {
        var tracee = FakeTracee()
        tracee.memory[0x9000] = [UInt8(program.count & 0xff), UInt8(program.count >> 8), 0, 0, 0, 0, 0, 0]
            + CheckTests.little(0xa000)
        tracee.memory[0xa000] = program.flatMap(bytes)
        return tracee
    }

    static func bytes(_ i: BPFInstruction) -> [UInt8] {
        [UInt8(i.code & 0xff), UInt8(i.code >> 8), i.jt, i.jf] + withUnsafeBytes(of: i.k.littleEndian) { Array($0) }
    }

    static let loadNr = BPFInstruction(code: 0x20, jt: 0, jf: 0, k: 0)
    static func ret(_ k: UInt32) -> BPFInstruction { BPFInstruction(code: 0x06, jt: 0, jf: 0, k: k) }
    static let jumpIfGetppid = BPFInstruction(code: 0x15, jt: 0, jf: 1, k: 110)
    static func filter(returning action: UInt32) -> [BPFInstruction] {
        [loadNr, jumpIfGetppid, ret(action), ret(0x7fff_0000)]
    }
    static let seccompStop = CheckTests.stop("seccomp", [1, 0, 0x9000, 0, 0, 0])

    @Test("a filter that can return TRACE, USER_NOTIF or the accumulator is refused with EACCES", arguments: [
        filter(returning: 0x7ff0_7777), filter(returning: 0x7fc0_0000), [loadNr, BPFInstruction(code: 0x16, jt: 0, jf: 0, k: 0)],
    ])
    func refused(program: [BPFInstruction]) throws {
        for stop in [Self.seccompStop, CheckTests.stop("prctl", [22, 2, 0x9000, 0, 0, 0])] {
            let decision = SeccompFilterCheck.decide(Self.logRule, stop, view: Self.tracee(program))
            guard case .deny(let code) = decision.verdict.action else {
                Issue.record("not denied: \(decision.verdict.action)")
                continue
            }
            #expect(code == Errno.access)
            let event = try #require(decision.events.first)
            #expect(event.rule.category == "escape" && event.rule.name == "seccomp")
            #expect(event.extra.contains { $0.0 == "reason" })
        }
    }

    @Test("an ordinary filter (ALLOW/ERRNO) is installed from a pinned copy that points into itself")
    func pinned() throws {
        let program = Self.filter(returning: 0x0005_0019)
        let decision = SeccompFilterCheck.decide(Self.logRule, Self.seccompStop, view: Self.tracee(program))
        guard case .allow = decision.verdict.action else { Issue.record("not allowed"); return }
        let pin = try #require(decision.verdict.pin)
        #expect(pin.argument == 2)
        #expect(Array(pin.bytes[0..<2]) == [4, 0])
        #expect(Array(pin.bytes[8..<16]) == CheckTests.little(16))
        #expect(Array(pin.bytes[16...]) == program.flatMap(Self.bytes))
        #expect(decision.verdict.pinRelocations == [8])
        #expect(decision.events.first?.rule.action == .log)
        let quiet = SeccompFilterCheck.decide(CheckTests.rule("escape", "seccomp", .allow, .seccompFilter),
                                              Self.seccompStop, view: Self.tracee(program))
        #expect(quiet.events.isEmpty && quiet.verdict.pin != nil)
    }

    @Test("seccomp operations that install no filter get the rule's own action")
    func otherOperations() {
        let strict = SeccompFilterCheck.decide(Self.logRule, CheckTests.stop("seccomp", [0, 0, 0, 0, 0, 0]),
                                               view: FakeTracee())
        #expect(strict.verdict.pin == nil && strict.events.count == 1)
        #expect(SeccompFilterCheck.programArgument(number: SyscallNumber.prctl, args: [38, 1, 0, 0, 0, 0]) == nil)
    }

    @Test("personality: only exactly 0xffffffff is a query; any other value with READ_IMPLIES_EXEC is judged")
    func personality() {
        let rule = CheckTests.rule("escape", "read-implies-exec", .deny(errno: 1), .personality)
        for (value, judged) in [(UInt64(0xffff_ffff), false), (0x8040_0000, true), (0x0040_0000, true),
                                (0x1_ffff_ffff, false), (0xffff_fffe, true)] {
            let decision = PersonalityCheck.decide(rule, CheckTests.stop("personality", [value, 0, 0, 0, 0, 0]))
            #expect(decision.events.isEmpty != judged, "personality(0x\(String(value, radix: 16)))")
        }
    }

    @Test("the trace file is refused to writing opens, truncate, unlink and rename under any name; reads pass")
    func traceTamper() throws {
        let trace = FileIdentity(device: 8, inode: 42)
        var tracee = FakeTracee()
        tracee.memory[0x9000] = Array("t.jsonl".utf8) + [0]
        tracee.memory[0xa000] = Array("/other".utf8) + [0]
        tracee.identities[Array("/proc/100/cwd/t.jsonl".utf8)] = trace
        tracee.identities[Array("/proc/100/root/other".utf8)] = FileIdentity(device: 8, inode: 7)
        let check = TraceTamperCheck(trace: trace)
        let cwd = UInt64(bitPattern: Int64(atCurrentDirectory))
        let refused: [(String, [UInt64])] = [
            ("openat", [cwd, 0x9000, 0o1, 0, 0, 0]), ("openat", [cwd, 0x9000, 0o1000, 0, 0, 0]),
            ("open", [0x9000, 0o2, 0, 0, 0, 0]), ("creat", [0x9000, 0o644, 0, 0, 0, 0]),
            ("truncate", [0x9000, 0, 0, 0, 0, 0]), ("unlink", [0x9000, 0, 0, 0, 0, 0]),
            ("rename", [0xa000, 0x9000, 0, 0, 0, 0]), ("renameat2", [cwd, 0x9000, cwd, 0xa000, 0, 0]),
        ]
        for (name, args) in refused {
            let decision = try #require(check.decide(CheckTests.stop(name, args), view: tracee), "\(name) passed")
            guard case .deny(let code) = decision.verdict.action else { Issue.record("\(name) not denied"); continue }
            #expect(code == Errno.access && decision.events.first?.rule.name == "trace-tamper")
        }
        #expect(check.decide(CheckTests.stop("openat", [cwd, 0x9000, 0, 0, 0, 0]), view: tracee) == nil, "a read")
        #expect(check.decide(CheckTests.stop("unlink", [0xa000, 0, 0, 0, 0, 0]), view: tracee) == nil, "another file")
        #expect(TraceTamperCheck(trace: nil).decide(CheckTests.stop("unlink", [0x9000, 0, 0, 0, 0, 0]), view: tracee) == nil)
    }

    @Test("signals aimed at strictrun are refused; harmless ones and other targets pass")
    func supervisorSignals() {
        let check = SupervisorSignalCheck(supervisor: 50, supervisorGroup: 50)
        var tracee = FakeTracee()
        tracee.processGroups[100] = 50
        tracee.threadGroups[51] = 50
        tracee.descriptorProcesses[7] = 50
        let minus = { (value: Int64) in UInt64(bitPattern: value) }
        let refused: [(String, [UInt64])] = [
            ("kill", [50, 19, 0, 0, 0, 0]), ("kill", [0, 10, 0, 0, 0, 0]), ("kill", [minus(-50), 9, 0, 0, 0, 0]),
            ("kill", [minus(-1), 19, 0, 0, 0, 0]), ("tgkill", [50, 50, 19, 0, 0, 0]), ("tkill", [51, 19, 0, 0, 0, 0]),
            ("pidfd_open", [50, 0, 0, 0, 0, 0]), ("pidfd_send_signal", [7, 9, 0, 0, 0, 0]),
            ("rt_sigqueueinfo", [50, 19, 0, 0, 0, 0]),
        ]
        for (name, args) in refused {
            let decision = check.decide(CheckTests.stop(name, args), view: tracee)
            guard case .deny(let code) = decision.verdict.action else {
                Issue.record("\(name)(\(args[0]), \(args[1])) passed")
                continue
            }
            #expect(code == Errno.permission && decision.events.first?.rule.name == "signal-supervisor")
        }
        let passed: [(String, [UInt64])] = [
            ("kill", [50, 0, 0, 0, 0, 0]), ("kill", [0, 18, 0, 0, 0, 0]), ("kill", [minus(-77), 9, 0, 0, 0, 0]),
            ("kill", [minus(-1), 15, 0, 0, 0, 0]), ("tkill", [100, 19, 0, 0, 0, 0]), ("pidfd_send_signal", [8, 9, 0, 0, 0, 0]),
        ]
        for (name, args) in passed {
            let decision = check.decide(CheckTests.stop(name, args), view: tracee)
            #expect(decision.events.isEmpty, "\(name)(\(args[0]), \(args[1])) refused")
        }
    }

    @Test("W^X emulation: a thread faulting again and again on a page already flipped as asked ends, never spins")
    func unflippedPages() {
        let emulator = WXEmulator()
        #expect(emulator.unflipped(tid: 1, page: 9, already: true) == nil, "once: a race with another thread's flip")
        #expect(emulator.unflipped(tid: 1, page: 9, already: false) == nil, "a real flip resets the count")
        #expect(emulator.unflipped(tid: 1, page: 9, already: true) == nil)
        #expect(emulator.unflipped(tid: 1, page: 9, already: true) == nil)
        #expect(emulator.unflipped(tid: 1, page: 9, already: true)?.contains("does not take effect") == true)
        #expect(emulator.unflipped(tid: 2, page: 9, already: true) == nil, "counted per thread")
    }

    @Test("W+X by alias: an executable view of an object another view or descriptor can write is refused")
    func wxAlias() throws {
        let rule = CheckTests.rule("wx", "wx-alias", .deny(errno: 13), .wxAlias)
        let check = WXAliasCheck(rule: rule)
        let memfd = FileIdentity(major: 0, minor: 1, inode: 77)
        var tracee = FakeTracee()
        tracee.openDescriptors = [OpenDescriptor(fd: 3, file: memfd, writable: true)]
        let execMap = CheckTests.stop("mmap", [0, 4096, 5, 0x02, 3, 0])   // PROT_READ|PROT_EXEC, MAP_PRIVATE, fd 3
        // A writable descriptor on the object: refused; sealed against writes: passes.
        let refused = try #require(check.decide(execMap, view: tracee))
        guard case .deny = refused.verdict.action else { Issue.record("not denied"); return }
        #expect(refused.events.first?.extra.first { $0.0 == "reason" }?.1.stringValue?.contains("descriptor 3") == true)
        tracee.sealed[3] = WXAliasCheck.sealWrite
        #expect(check.decide(execMap, view: tracee) == nil)
        // A shared writable view of it: refused even when sealed against new writes.
        tracee.mappings = MemoryMaps(parsing: Array("7f0000000000-7f0000001000 rw-s 00000000 00:01 77 /memfd:a (deleted)\n".utf8)).mappings
        #expect(check.decide(execMap, view: tracee) != nil)
        // The other side: a shared writable mapping of an object that is mapped executable.
        tracee.mappings = MemoryMaps(parsing: Array("7f0000000000-7f0000001000 r-xp 00000000 00:01 77 /memfd:a (deleted)\n".utf8)).mappings
        tracee.sealed = [:]
        let writeMap = CheckTests.stop("mmap", [0, 4096, 3, 0x01, 3, 0])  // PROT_READ|PROT_WRITE, MAP_SHARED
        #expect(check.decide(writeMap, view: tracee) != nil)
        // Anonymous memory and a read-only file with no writer pass.
        #expect(check.decide(CheckTests.stop("mmap", [0, 4096, 5, 0x22, UInt64.max, 0]), view: tracee) == nil)
        tracee.openDescriptors = [OpenDescriptor(fd: 4, file: FileIdentity(device: 9, inode: 1), writable: false)]
        tracee.mappings = []
        #expect(check.decide(CheckTests.stop("mmap", [0, 4096, 5, 0x02, 4, 0]), view: tracee) == nil)
        #expect(WXAliasCheck(rule: nil).decide(execMap, view: tracee) == nil)
    }

    @Test("an mprotect(PROT_EXEC) that passed on the maps is checked again at its exit: a mapping made shared meanwhile ends the process")
    func mapsRace() throws {
        let rule = CheckTests.rule("wx", "wx", .deny(errno: 13), .wx(.simultaneous))
        let stop = CheckTests.stop("mprotect", [0x7f00_0000_0000, 4096, 5, 0, 0, 0])
        var tracee = FakeTracee()
        tracee.mappings = MemoryMaps(parsing: Array("7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n".utf8)).mappings
        #expect(WXCheck.decide(rule, stop, level: .simultaneous, view: tracee).events.isEmpty, "a private mapping passes")
        let reverify = try #require(WXCheck.reverify(rule, stop, level: .simultaneous, view: tracee))
        #expect(reverify(0).isEmpty, "still private at the exit")
        tracee.mappings = MemoryMaps(parsing: Array("7f0000000000-7f0000001000 r-xs 00000000 00:01 5 /dev/shm/x\n".utf8)).mappings
        let raced = try #require(WXCheck.reverify(rule, stop, level: .simultaneous, view: tracee))
        #expect(raced(0).first?.rule.name == "maps-race" && raced(0).first?.rule.action == .kill)
        #expect(raced(-12).isEmpty, "a call that failed changed nothing")
        #expect(WXCheck.reverify(rule, CheckTests.stop("mprotect", [0x1000, 4096, 1, 0, 0, 0]), level: .simultaneous,
                                 view: tracee) == nil, "no PROT_EXEC: nothing depended on the maps")
    }

    @Test("openat2 that passes runs with the open_how that was judged: pinned with the path right after it")
    func openHowPinned() throws {
        var tracee = FakeTracee()
        let path = Array("/tmp/x".utf8)
        let how = CheckTests.little(0o1) + CheckTests.little(0o644) + CheckTests.little(0)  // O_WRONLY, mode, resolve
        tracee.memory[0x9000] = path + [0]
        tracee.memory[0xa000] = how
        let rule = CheckTests.rule("wx", "proc-mem-write", .deny(errno: 13), .procMemOpen)
        let check = OpenCheck(keyFiles: [], procMemRule: rule)
        let stop = CheckTests.stop("openat2", [UInt64(bitPattern: Int64(atCurrentDirectory)), 0x9000, 0xa000, 24, 0, 0])
        let decision = check.decide(stop, view: tracee)
        let pin = try #require(decision.verdict.pin)
        #expect(pin.argument == 2)
        #expect(Array(pin.bytes[0..<24]) == how)
        #expect(Array(pin.bytes[24...]) == path + [0])
        #expect(decision.verdict.pinAlso.count == 1 && decision.verdict.pinAlso[0] == (1, 24))
        // An open_how the kernel would refuse, or one that cannot be read, is refused as the
        // kernel would refuse it (never judged from one read and run from another).
        let cwd = UInt64(bitPattern: Int64(atCurrentDirectory))
        for (size, address, expected) in [(UInt64(8), UInt64(0xa000), Errno.invalid), (8192, 0xa000, Errno.argumentListTooLong),
                                           (24, 0xdead_0000, Errno.fault)] {
            let odd = check.decide(CheckTests.stop("openat2", [cwd, 0x9000, address, size, 0, 0]), view: tracee)
            guard case .deny(let code) = odd.verdict.action else { Issue.record("size \(size) not refused"); continue }
            #expect(code == expected)
        }
    }

    @Test("a write open with O_TRUNC that is judged again at its exit has its truncation held back until then")
    func truncationHeldBack() throws {
        let rule = CheckTests.rule("wx", "proc-mem-write", .deny(errno: 13), .procMemOpen)
        let check = OpenCheck(keyFiles: [], procMemRule: rule)
        var tracee = FakeTracee()
        tracee.memory[0x9000] = Array("out.txt".utf8) + [0]
        let cwd = UInt64(bitPattern: Int64(atCurrentDirectory))
        let truncating: UInt64 = 0o1 | 0o100 | 0o1000  // O_WRONLY|O_CREAT|O_TRUNC
        // openat: the flags register rewritten without O_TRUNC.
        let openat = check.decide(CheckTests.stop("openat", [cwd, 0x9000, truncating, 0o644, 0, 0]), view: tracee).verdict
        #expect(openat.truncateAtExit && openat.rewrites.count == 1 && openat.rewrites[0] == (2, 0o101))
        // open: the same in its second argument.
        let open = check.decide(CheckTests.stop("open", [0x9000, truncating, 0o644, 0, 0, 0]), view: tracee).verdict
        #expect(open.truncateAtExit && open.rewrites.count == 1 && open.rewrites[0] == (1, 0o101))
        // creat: made as open(path, O_CREAT|O_WRONLY, mode).
        let creat = check.decide(CheckTests.stop("creat", [0x9000, 0o600, 0, 0, 0, 0]), view: tracee).verdict
        #expect(creat.truncateAtExit && creat.syscallNumber == SyscallNumber.open)
        #expect(creat.rewrites.count == 2 && creat.rewrites[0] == (1, 0o101) && creat.rewrites[1] == (2, 0o600))
        // openat2: O_TRUNC cleared in the pinned open_how, the rest as the program passed it.
        tracee.memory[0xa000] = CheckTests.little(truncating) + CheckTests.little(0o644) + CheckTests.little(0)
        let how = check.decide(CheckTests.stop("openat2", [cwd, 0x9000, 0xa000, 24, 0, 0]), view: tracee).verdict
        let pinned = try #require(how.pin?.bytes)
        #expect(how.truncateAtExit && Array(pinned[0..<8]) == CheckTests.little(0o101) && Array(pinned[8..<16]) == CheckTests.little(0o644))
        // A read with O_TRUNC keeps it (the kernel checks write permission for it), and so does an
        // open that nothing re-checks at its exit.
        let reading = check.decide(CheckTests.stop("openat", [cwd, 0x9000, 0o1000, 0, 0, 0]), view: tracee).verdict
        #expect(!reading.truncateAtExit && reading.rewrites.isEmpty)
        let unchecked = OpenCheck(keyFiles: [], procMemRule: nil)
        let plain = unchecked.decide(CheckTests.stop("openat", [cwd, 0x9000, truncating, 0, 0, 0]), view: tracee).verdict
        #expect(!plain.truncateAtExit && plain.rewrites.isEmpty)
    }

    @Test("a path call that passed its trace check is looked at again at its exit: a trace changed after all ends the process")
    func traceChangedAfterCheck() throws {
        let trace = FileIdentity(device: 8, inode: 42)
        var tracee = FakeTracee()
        tracee.memory[0x9000] = Array("innocent".utf8) + [0]
        let intact = TraceTamperCheck(trace: trace, damage: { nil })
        let unlink = CheckTests.stop("unlink", [0x9000, 0, 0, 0, 0, 0])
        let passed = try #require(intact.decideAlone(unlink, view: tracee).verdict.atExit)
        #expect(passed(0).isEmpty, "the trace is as written")
        let swapped = TraceTamperCheck(trace: trace, damage: { "t.jsonl no longer names the trace file" })
        let atExit = try #require(swapped.decideAlone(unlink, view: tracee).verdict.atExit)
        #expect(atExit(0).first?.rule.name == "trace-tamper" && atExit(0).first?.rule.action == .kill)
        #expect(atExit(-2).isEmpty, "a call that failed changed nothing")
        #expect(TraceTamperCheck(trace: trace).decideAlone(unlink, view: tracee).verdict.atExit == nil,
                "no way to look at the trace: no exit stop")
    }

    @Test("W+X by alias across processes: a file one process maps executable is refused to another's writers, and the reverse")
    func wxAliasAcrossProcesses() throws {
        let rule = CheckTests.rule("wx", "wx-alias", .deny(errno: 13), .wxAlias)
        let known = ExecutableFiles()
        known.started(100)
        known.inherit(200, from: 100)
        let check = WXAliasCheck(rule: rule, known: known)
        let file = FileIdentity(major: 8, minor: 1, inode: 5)
        var tracee = FakeTracee()
        tracee.openDescriptors = [OpenDescriptor(fd: 3, file: file, writable: false)]
        // Process 200 holds the file open for writing: process 100 may not map it executable.
        tracee.perProcessDescriptors[200] = [OpenDescriptor(fd: 7, file: file, writable: true)]
        let execMap = CheckTests.stop("mmap", [0, 4096, 5, 0x02, 3, 0])
        let refused = try #require(check.decide(execMap, view: tracee))
        #expect(refused.events.first?.extra.first { $0.0 == "reason" }?.1.stringValue?.contains("in process 200") == true)
        known.gone(200)
        #expect(check.decide(execMap, view: tracee) == nil, "the writer is gone")
        // Process 100 maps it executable; process 300 (spawned later) opens it for writing.
        known.inherit(300, from: 100)
        known.forget(300)  // its exec: its own requests start anew
        tracee.mappings = MemoryMaps(parsing: Array("7f0000000000-7f0000001000 r-xp 00000000 08:01 5 /tmp/code\n".utf8)).mappings
        var other = execMap
        other.tid = 300
        other.tgid = 300
        #expect(check.writable(other, file: file, view: tracee) != nil, "mapped executable by process 100")
        tracee.mappings = []
        #expect(check.writable(other, file: file, view: tracee) == nil, "unmapped since: confirmed from the mappings")
    }

    @Test("a write open is judged again by the descriptor it returned: the trace or a mem file ends the process")
    func openedFileAtExit() throws {
        let trace = FileIdentity(device: 8, inode: 42)
        let rule = CheckTests.rule("wx", "proc-mem-write", .deny(errno: 13), .procMemOpen)
        var check = OpenCheck(keyFiles: [], procMemRule: rule)
        check.tamper = TraceTamperCheck(trace: trace)
        var tracee = FakeTracee()
        tracee.memory[0x9000] = Array("innocent".utf8) + [0]
        let cwd = UInt64(bitPattern: Int64(atCurrentDirectory))
        let write = CheckTests.stop("openat", [cwd, 0x9000, 0o1, 0, 0, 0])
        // (The check reads the view it was made with: one per state of the fake tracee.)
        let plain = try #require(check.openedFile(write, flags: 0o1, view: tracee))
        #expect(plain(5).isEmpty, "an ordinary file")
        tracee.identities[Array("/proc/100/fd/5".utf8)] = trace
        let traceCheck = try #require(check.openedFile(write, flags: 0o1, view: tracee))
        let toTrace = traceCheck(5)
        #expect(toTrace.first?.rule.name == "trace-tamper" && toTrace.first?.rule.action == .kill)
        tracee.identities = [:]
        tracee.procfs = [Array("/proc/100/fd/6".utf8)]
        tracee.links[Array("/proc/100/fd/6".utf8)] = Array("/proc/100/mem".utf8)
        let atExit = try #require(check.openedFile(write, flags: 0o1, view: tracee))
        #expect(atExit(6).first?.rule.name == "proc-mem-write" && atExit(6).first?.rule.action == .kill)
        #expect(atExit(6).first?.alsoEnd == 100, "the mem file's owner ends too")
        #expect(OpenCheck.memOwner(Array("/proc/321/task/322/mem".utf8)) == 321 && OpenCheck.memOwner(Array("/tmp/mem".utf8)) == nil)
        #expect(atExit(-13).isEmpty, "a failed open opened nothing")
        #expect(check.openedFile(CheckTests.stop("openat", [cwd, 0x9000, 0, 0, 0, 0]), flags: 0, view: tracee) == nil, "a read")
    }

    @Test("no answer lifts what guards strictrun itself: escape and supervisor rules keep the profile's answer")
    func answersSpareTheSupervisor() {
        let book = AnswerBook([SiteAnswer(site: nil, rule: "trace-tamper", action: .allow),
                               SiteAnswer(site: nil, rule: "fork", action: .allow)])
        let unlink = CheckTests.stop("unlink", [0x9000, 0, 0, 0, 0, 0])
        let tamper = CompiledRule.builtIn("escape", "trace-tamper", .deny(errno: 13))
        let untouched = book.apply(.act(tamper, unlink), at: unlink, capture: { _ in .none })
        guard case .untouched = untouched else { Issue.record("an answer lifted escape/trace-tamper"); return }
        let clone = CheckTests.stop("clone", [0x11, 0, 0, 0, 0, 0])
        let fork = CheckTests.rule("process", "fork", .deny(errno: 1), .always)
        guard case .answered(let answered) = book.apply(.act(fork, clone), at: clone, capture: { _ in .none }),
              case .allow = answered.verdict.action else { Issue.record("a rule-wide answer did not apply to process/fork"); return }
    }
}
