#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims
import StrictrunPolicy
import StrictrunTrace

/// Counts of one rule over a run.
public struct RuleCount: Sendable, Hashable {
    public var category: String
    public var rule: String
    public var action: String
    /// The action as written, when `mode: audit` turned it into `log`.
    public var auditedFrom: String?
    public var count: Int
}

/// How the traced program ended, and what the run observed.
public struct RunOutcome: Sendable {
    /// What strictrun exits with: the program's status, 128+N for signal N.
    public var exitStatus: Int32
    /// `exited 3`, `killed by SIGTRAP`, …
    public var ending: String
    public var counts: [RuleCount]
    /// The first blocked (or, in audit mode, first logged) call, readable.
    public var firstBlocked: String?
    public var eventsWritten: Int64
    public var processes: Int
    /// A failure of strictrun itself during the run (e.g. the trace could not be written).
    public var failure: String?
    /// Call sites by category, most hit first (empty without stacks).
    public var sites: [SiteSummary] = []
    /// Every process id the run traced, the root first.
    public var processIDs: [pid_t] = []
    /// W^X emulation over all processes (`wx: emulate`), nil when the level is another.
    public var wxEmulation: WXEmulationCounters?
    /// Things the reader must know about how the run ended (e.g. a W^X livelock).
    public var notices: [String] = []
    /// How the fs view and net stack were built, fallbacks included (ConfinementPlan).
    public var confinement: [String] = []
}

/// The ptrace loop. Lives entirely on the one thread that forked the program: every
/// ptrace request comes from here. Wakes only for seccomp stops, clone/fork/vfork/exec
/// events and signals; everything else stays in the kernel.
final class Tracer {
    private struct Task {
        var tgid: pid_t
        /// False until the auto-attached task's initial SIGSTOP has been seen.
        var started: Bool
    }
    private struct ProcessState {
        var exe: String
        var parent: pid_t?
    }

    let policy: CompiledPolicy
    private let writer: TraceWriter
    private let stacks: StackRecorder
    private let tls: TLSPolicy?
    private let interceptor: ConnectInterceptor?
    /// Real paths of the client-certificate keys the program may not open.
    private let keyFiles: Set<String>
    private let root: pid_t
    private var tasks: [pid_t: Task] = [:]
    private var processes: [pid_t: ProcessState] = [:]
    private var rootExecSeen = false
    private var rootStatus: WaitStatus?
    /// Events per rule as named in events (the tracer may refine a compiled rule's name),
    /// in first-seen order.
    private var counts: [RuleCount] = []
    private var countIndex: [String: Int] = [:]
    private var firstBlocked: String?
    private var failure: String?
    private var processIDs: [pid_t]
    private var killedAll = false
    /// A policy event recorded at a stop, written once the stopped thread is running again.
    private var pendingPolicyEvent: [(String, JSONValue)]?
    /// Threads resumed from a seccomp stop with PTRACE_SYSCALL, and what to do with the
    /// call's result at their syscall-exit-stop (see `resumeToExit`).
    private var exitActions: [pid_t: (_ result: Int64) -> Void] = [:]
    /// `wx: emulate`: flips the pages of W+X requests on faults.
    private let emulator: WXEmulator?
    private var wxTotals = WXEmulationCounters()
    /// Write faults per process, to sample the stacks of the code that writes code.
    private var codeWrites: [pid_t: Int] = [:]
    private var notices: [String] = []
    /// The `proc-mem-write` rule, checked at every traced open.
    let procMemRule: CompiledRule?

    init(policy: CompiledPolicy, writer: TraceWriter, stacks: StackRecorder, router: (any ConnectionRouter)?,
         root: pid_t, exe: String) {
        self.policy = policy
        self.writer = writer
        self.stacks = stacks
        tls = policy.profile.tls
        interceptor = router.map(ConnectInterceptor.init)
        keyFiles = Set((policy.profile.tls?.clientCertificates ?? []).map { TraceeMemory.realPath($0.key) ?? $0.key })
        self.root = root
        processIDs = [root]
        tasks[root] = Task(tgid: root, started: true)
        processes[root] = ProcessState(exe: exe, parent: nil)
        procMemRule = policy.rules.values.first { $0.check == .procMemOpen }
        emulator = policy.rules.values.contains { $0.check == .wx(.emulate) } ? WXEmulator() : nil
        emulator?.processStarted(root, from: nil, sharesMemory: false)
        emulator?.onWriteFault = { [unowned self] tid, tgid in self.sampleCodeWriter(tid: tid, tgid: tgid) }
    }

    /// Runs until every traced task is gone. The root is already resumed.
    func run() -> RunOutcome {
        while true {
            var raw: Int32 = 0
            let tid: pid_t
            if let due = emulator?.nextDue {
                // Threads wait for a page's lease: poll until the first is due.
                tid = strictrun_waitpid_all(-1, &raw, WNOHANG)
                if tid == 0 {
                    let now = WXEmulator.now()
                    if now < due {
                        usleep(useconds_t(min(200, max(20, (due - now) / 1000))))
                    } else {
                        for waiting in emulator?.takeDue(now: now) ?? [] {
                            faultStop(tid: waiting.tid, tgid: waiting.tgid)
                        }
                    }
                    continue
                }
            } else {
                tid = strictrun_waitpid_all(-1, &raw, 0)
            }
            if tid < 0 {
                if errno == ECHILD { break }
                recordFailure("waitpid: \(String(cString: strerror(errno)))")
                break
            }
            handle(tid: tid, status: WaitStatus(raw))
        }
        return finish()
    }

    // MARK: dispatch

    private func handle(tid: pid_t, status: WaitStatus) {
        defer {
            if let fields = pendingPolicyEvent {
                pendingPolicyEvent = nil
                emit(.policy, fields)
            }
        }
        switch status {
        case .exited, .signaled:
            reaped(tid: tid, status: status)
        case .stopped(_, .some(.seccomp)):
            seccompStop(tid: tid)
        case .stopped(_, .some(let event)) where event == .fork || event == .vfork || event == .clone:
            let child = pid_t(truncatingIfNeeded: Ptrace.eventMessage(tid))
            newTask(child, createdBy: tid, event: event)
            Ptrace.resume(tid)
        case .stopped(_, .some(.exec)):
            execEvent(tid: tid)
            Ptrace.resume(tid)
        case .stopped(_, .some):
            Ptrace.resume(tid)
        case .stopped(Ptrace.syscallStopSignal, nil) where exitActions[tid] != nil:
            let action = exitActions.removeValue(forKey: tid)
            if let result = Ptrace.syscallResult(tid) { action?(result) }
            Ptrace.resume(tid)
        case .stopped(let signal, nil):
            signalStop(tid: tid, signal: signal)
        }
    }

    /// Resumes a thread stopped at a seccomp stop so that it runs the call and stops again
    /// at its exit, where `action` sees the result (-errno on failure). The thread is then
    /// resumed as usual. At most one action per thread: a thread runs one call at a time.
    func resumeToExit(_ tid: pid_t, then action: @escaping (_ result: Int64) -> Void) {
        exitActions[tid] = action
        Ptrace.resumeToExit(tid)
    }

    private func signalStop(tid: pid_t, signal: Int32) {
        if signal == SIGSTOP, tasks[tid]?.started != true {
            // The initial stop of an auto-attached task; its creator's event may come later.
            if tasks[tid] == nil {
                // Its creator's clone event has not been handled yet: ask /proc.
                tasks[tid] = Task(tgid: TraceeMemory.threadGroup(of: tid) ?? tid, started: true)
            } else {
                tasks[tid]?.started = true
            }
            Ptrace.resume(tid)
            return
        }
        if signal == SIGSEGV, let emulator, emulator.emulates(groupOf(tid)) {
            faultStop(tid: tid, tgid: groupOf(tid))
            return
        }
        let stopping = [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].contains(signal)
        if stopping && Ptrace.isGroupStop(tid) {
            // A group-stop of a non-seized tracee: let it run on (see README, limitations).
            Ptrace.resume(tid)
            return
        }
        // Every other signal — SIGTRAP from the program's own int3 included — is the
        // program's: pass it on unchanged.
        Ptrace.resume(tid, signal: signal)
    }

    private func newTask(_ child: pid_t, createdBy parent: pid_t, event: Ptrace.Event) {
        let parentGroup = groupOf(parent)
        let isThread: Bool
        var sharesMemory = event == .vfork
        if event == .clone {
            // The parent is stopped in clone(2): its flags say whether the child is a thread,
            // without reading /proc (clone3 keeps them in memory: ask /proc then).
            var regs = user_regs_struct()
            if strictrun_getregs(parent, &regs) == 0, regs.orig_rax == 56 /* clone */ {
                isThread = regs.rdi & FilterCompiler.cloneThread != 0
                sharesMemory = regs.rdi & FilterCompiler.cloneVM != 0
            } else {
                let group = TraceeMemory.threadGroup(of: child) ?? child
                isThread = group != child
            }
        } else {
            isThread = false
        }
        let tgid = isThread ? parentGroup : child
        if tasks[child] == nil {
            tasks[child] = Task(tgid: tgid, started: false)
        } else {
            tasks[child]?.tgid = tgid
        }
        guard !isThread else { return }
        emulator?.processStarted(child, from: parentGroup, sharesMemory: sharesMemory)
        processIDs.append(child)
        let exe = processes[parentGroup]?.exe ?? "?"
        processes[child] = ProcessState(exe: exe, parent: parentGroup)
        let via = switch event {
        case .fork: "fork"
        case .vfork: "vfork"
        default: "clone"
        }
        emit(.process, [("pid", .int(Int64(child))), ("parent", .int(Int64(parentGroup))),
                        ("via", .string(via)), ("exe", .string(exe))])
    }

    private func execEvent(tid: pid_t) {
        // A non-leader thread that execs takes over the thread group's id.
        let former = pid_t(truncatingIfNeeded: Ptrace.eventMessage(tid))
        if former != tid { tasks[former] = nil }
        let tgid = groupOf(tid)
        tasks[tid] = Task(tgid: tgid, started: true)
        // Threads other than the exec'ing one are gone; their exits arrive as reaps.
        let exe = TraceeMemory.executable(pid: tid) ?? "?"
        processes[tgid, default: ProcessState(exe: exe, parent: nil)].exe = exe
        if tgid == root { rootExecSeen = true }
        emulator?.exec(tgid)
        stacks.forget(pid: tgid)
        interceptor?.forget(pid: tgid)
        let argv = TraceeMemory.procFile("/proc/\(tid)/cmdline")?
            .split(separator: "\0", omittingEmptySubsequences: false).dropLast().map { JSONValue.string(String($0)) }
        emit(.exec, [("pid", .int(Int64(tgid))), ("tid", .int(Int64(tid))), ("exe", .string(exe)),
                     ("argv", .array(argv ?? []))])
    }

    /// The thread group of a task, from the table (or /proc for a task not seen yet).
    func groupOf(_ tid: pid_t) -> pid_t {
        tasks[tid]?.tgid ?? TraceeMemory.threadGroup(of: tid) ?? tid
    }

    private func reaped(tid: pid_t, status: WaitStatus) {
        exitActions[tid] = nil
        emulator?.threadGone(tid)
        let task = tasks.removeValue(forKey: tid)
        let tgid = task?.tgid ?? tid
        guard tid == tgid else { return }
        stacks.forget(pid: tgid)
        interceptor?.forget(pid: tgid)
        codeWrites[tgid] = nil
        if tid == root {
            rootStatus = status
            return  // the root's exit line closes the trace, after every other process
        }
        emit(.exit, exitFields(pid: tid, status: status))
        processes[tid] = nil
    }

    // MARK: seccomp stops

    private func seccompStop(tid: pid_t) {
        let info: strictrun_syscall_info
        do {
            info = try Ptrace.syscallInfo(tid)
        } catch {
            Ptrace.resume(tid)
            return
        }
        let tgid = groupOf(tid)
        let foreign = info.arch != SyscallNames.archX86_64 || info.nr & SyscallNames.x32SyscallBit != 0
        guard var rule = foreign ? policy.foreignABIRule : policy.rules[UInt16(truncatingIfNeeded: info.ret_data)]
        else {
            Ptrace.resume(tid)
            return
        }
        let args = withUnsafeBytes(of: info.args) { Array($0.bindMemory(to: UInt64.self)) }
        switch rule.check {
        case .always:
            break
        case .execAfterFirst:
            if tgid == root && !rootExecSeen {
                Ptrace.resume(tid)
                return
            }
        case .wx(.emulate):
            emulateStop(rule: rule, tid: tid, tgid: tgid, info: info, args: args)
            return
        case .wx(let level):
            guard let name = Self.wxRuleName(syscall: info.nr, args: args, level: level, pid: tgid) else {
                Ptrace.resume(tid)
                return
            }
            rule.name = name
        case .tlsConnect:
            connectStop(rule: rule, tid: tid, tgid: tgid, nr: info.nr, args: args, addressArgument: 1)
            return
        case .tlsFastOpen:
            connectStop(rule: rule, tid: tid, tgid: tgid, nr: info.nr, args: args, addressArgument: 4)
            return
        case .clientKeyOpen, .procMemOpen:
            openStop(rule: rule, tid: tid, tgid: tgid, nr: info.nr, args: args)
            return
        case .fsNet(let check):
            fsNetStop(check, rule: rule, tid: tid, tgid: tgid, nr: info.nr, args: args)
            return
        }
        let abi = SyscallNames.abiName(arch: info.arch, nr: info.nr)
        let number = Int32(truncatingIfNeeded: info.nr & ~SyscallNames.x32SyscallBit)
        let syscall = SyscallNames.name(number, arch: abi == "i386" ? SyscallNames.archI386 : SyscallNames.archX86_64)
        act(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: abi, nr: info.nr, args: args)
    }

    /// connect() (or sendto(MSG_FASTOPEN)) with a tls rule: TLS ports get the rule's action,
    /// others go on with the checked address pinned (see ArgumentPinning).
    private func connectStop(rule: CompiledRule, tid: pid_t, tgid: pid_t, nr: UInt64, args: [UInt64],
                             addressArgument: Int) {
        let lengthArgument = addressArgument == 1 ? 2 : 5
        guard let tls, let address = DecodedSockaddr.read(pid: tid, address: args[addressArgument],
                                                          length: args[lengthArgument]) else {
            Ptrace.resume(tid)  // not an IP socket address (AF_UNIX, AF_NETLINK…) or none at all
            return
        }
        let syscall = addressArgument == 1 ? "connect" : "sendto"
        let decoded: [(String, JSONValue)] = [
            ("fd", .int(Int64(Int32(truncatingIfNeeded: args[0])))),
            ("address", .string(address.endpoint.description)),
            ("family", .string(address.family == AF_INET6 ? "AF_INET6" : "AF_INET")),
        ]
        let pass = {
            if !ArgumentPinning.pin(tid: tid, pid: tgid, argument: addressArgument, bytes: address.bytes) {
                // The checked address could not be pinned: do not let an unchecked one through.
                _ = try? Ptrace.skipSyscall(tid, errno: EACCES)
            }
            Ptrace.resume(tid)
        }
        guard tls.ports.contains(UInt16(truncatingIfNeeded: address.endpoint.port)) else {
            pass()
            return
        }
        let destination: [(String, JSONValue)] = [("destination", .string(address.endpoint.description))]
        guard rule.action == .route, addressArgument == 1 else {
            record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                   decoded: decoded, extra: destination)
            if rule.action.blocks { perform(rule.action, tid: tid, tgid: tgid, syscall: syscall) } else { pass() }
            return
        }
        guard let interceptor else {
            record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                   decoded: decoded, extra: destination + [("outcome", .string("failed")),
                                                           ("reason", .string("no broker is running"))])
            perform(.deny(errno: ECONNREFUSED), tid: tid, tgid: tgid, syscall: syscall)
            return
        }
        switch interceptor.route(pid: tgid, fd: Int32(truncatingIfNeeded: args[0]), destination: address) {
        case .connected(let result, let id, let local):
            record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                   decoded: decoded, extra: destination + [("outcome", .string("routed")),
                                                           ("connection", .uint(id)),
                                                           ("broker_local", .string(local.description))])
            perform(.deny(errno: -result), tid: tid, tgid: tgid, syscall: syscall)  // skip: 0 or EINPROGRESS
        case .notStream:
            record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                   decoded: decoded, extra: destination + [("outcome", .string("not routed: not a TCP socket"))])
            pass()
        case .failed(let code, let reason):
            record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                   decoded: decoded, extra: destination + [("outcome", .string("failed")), ("reason", .string(reason))])
            perform(.deny(errno: code), tid: tid, tgid: tgid, syscall: syscall)
        }
    }

    /// open/openat/openat2 while client-certificate keys exist (their keys are the broker's),
    /// or for writing while a W^X level is on (/proc/PID/mem writes through page protections).
    private func openStop(rule: CompiledRule, tid: pid_t, tgid: pid_t, nr: UInt64, args: [UInt64]) {
        let pathArgument = nr == 2 /* open */ ? 0 : 1
        guard let path = TraceeMemory.string(pid: tid, at: args[pathArgument]) else {
            Ptrace.resume(tid)
            return
        }
        let resolved = openedPath(path, dirfd: pathArgument == 0 ? AT_FDCWD : Int32(truncatingIfNeeded: args[0]),
                                  tid: tid, tgid: tgid)
        let syscall = pathArgument == 0 ? "open" : (nr == 257 ? "openat" : "openat2")
        if rule.check == .clientKeyOpen && keyFiles.contains(resolved) {
            record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                   decoded: [("path", .string(path))], extra: [("reason", .string("a client-certificate key of the broker"))])
            perform(rule.action, tid: tid, tgid: tgid, syscall: syscall)
            return
        }
        if deniedProcMemWrite(tid: tid, tgid: tgid, nr: nr, args: args, path: path, resolved: resolved) { return }
        // Pin the checked path so that another thread cannot swap in another path now.
        if !ArgumentPinning.pin(tid: tid, pid: tgid, argument: pathArgument, bytes: Array(path.utf8) + [0]) {
            _ = try? Ptrace.skipSyscall(tid, errno: EACCES)
        }
        Ptrace.resume(tid)
    }

    /// An open of /proc/PID/mem for writing under a W^X level: recorded and denied (true), or
    /// not one (false, the thread still stopped). `resolved`: the path made absolute and real.
    func deniedProcMemWrite(tid: pid_t, tgid: pid_t, nr: UInt64, args: [UInt64], path: String,
                            resolved: String) -> Bool {
        guard let memoryRule = procMemRule, Self.opensForWriting(tid: tid, nr: nr, args: args),
              TraceeMemory.isProcMem(resolved) else { return false }
        let syscall = nr == 2 ? "open" : (nr == 257 ? "openat" : "openat2")
        record(rule: memoryRule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
               decoded: [("path", .string(path))],
               extra: [("reason", .string("writes to /proc/PID/mem ignore page protections"))])
        perform(memoryRule.action, tid: tid, tgid: tgid, syscall: syscall)
        return true
    }

    /// The absolute, real path an open-like call names, "/proc/self" taken as the program's.
    func openedPath(_ path: String, dirfd: Int32, tid: pid_t, tgid: pid_t) -> String {
        var absolute = path
        if !path.hasPrefix("/") {
            let base = dirfd == AT_FDCWD ? "/proc/\(tgid)/cwd" : "/proc/\(tgid)/fd/\(dirfd)"
            absolute = (TraceeMemory.realPath(base) ?? base) + "/" + path
        }
        for alias in ["/proc/self/", "/proc/thread-self/"] where absolute.hasPrefix(alias) {
            absolute = "/proc/\(tid)/" + absolute.dropFirst(alias.count)
        }
        return TraceeMemory.realPath(absolute) ?? absolute
    }

    /// Whether an open/openat/openat2 asks for write access (O_WRONLY or O_RDWR).
    static func opensForWriting(tid: pid_t, nr: UInt64, args: [UInt64]) -> Bool {
        switch nr {
        case 2: return args[1] & 0x3 != 0
        case 257: return args[2] & 0x3 != 0
        default:
            // openat2(dirfd, path, struct open_how *how, size): how->flags comes first.
            var flags: UInt64 = 0
            guard strictrun_read_memory(tid, args[2], &flags, 8) == 8 else { return true }
            return flags & 0x3 != 0
        }
    }

    // MARK: W^X emulation

    /// A memory call under `wx: emulate`: the trampoline's RX flips are checked against the
    /// table; executable shared memory is denied as under `simultaneous`; a W+X request is
    /// granted as RW (and logged with its stack); the table follows every call that could
    /// replace or re-protect emulated pages.
    private func emulateStop(rule: CompiledRule, tid: pid_t, tgid: pid_t, info: strictrun_syscall_info,
                             args: [UInt64]) {
        guard let emulator else {
            Ptrace.resume(tid)
            return
        }
        let nr = info.nr
        emulator.harvest(tgid: tgid, instructionPointer: info.instruction_pointer)
        if let agrees = emulator.trampolineFlip(tgid: tgid, nr: nr, args: args,
                                                instructionPointer: info.instruction_pointer) {
            // A flip the table no longer wants fails; the thread faults again and is judged afresh.
            if !agrees { _ = try? Ptrace.skipSyscall(tid, errno: EAGAIN) }
            Ptrace.resume(tid)
            return
        }
        let syscall = SyscallNames.name(Int32(truncatingIfNeeded: nr), arch: SyscallNames.archX86_64)
        let exec = FilterCompiler.protExec
        let writeExec = FilterCompiler.protWrite | exec
        let setsProtection = nr == 9 || nr == 10 || nr == 329
        if setsProtection && args[2] & exec != 0 {
            let shared = nr == 9 ? args[3] & 0x1 != 0
                : TraceeMemory.regionFlags(pid: tgid, start: args[0], length: args[1]).shared
            if shared {
                var denied = rule
                denied.name = "shared-exec"
                act(rule: denied, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args)
                return
            }
        }
        var granted = false
        if setsProtection && args[2] & writeExec == writeExec {
            var regs = user_regs_struct()
            if strictrun_getregs(tid, &regs) == 0 {
                regs.rdx = args[2] & ~exec
                granted = strictrun_setregs(tid, &regs) == 0
            }
            guard granted else {
                // W+X cannot be rewritten: it must not pass as asked.
                act(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args)
                return
            }
            var emulated = rule
            emulated.name = "wx-emulated"
            emulated.action = .log
            emulated.auditedFrom = nil
            record(rule: emulated, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                   extra: [("granted", .string(FlagTables.protNames(args[2] & ~exec)))])
        }
        if let done = emulator.memoryCall(tid: tid, tgid: tgid, nr: nr, args: args, grantedWriteExec: granted) {
            resumeToExit(tid, then: done)
        } else {
            Ptrace.resume(tid)
        }
    }

    /// A SIGSEGV of a process with emulated pages (or a thread whose lease wait is over).
    private func faultStop(tid: pid_t, tgid: pid_t) {
        guard let emulator else { return }
        switch emulator.fault(tid: tid, tgid: tgid) {
        case .notOurs:
            Ptrace.resume(tid, signal: SIGSEGV)
        case .handled, .deferred:
            break
        case .died(let status):
            reaped(tid: tid, status: status)
        case .livelock(let reason, let instruction, let address):
            let rule = CompiledRule(id: 0, category: "wx", name: "wx-livelock", action: .kill, auditedFrom: nil,
                                    check: .always, location: nil)
            record(rule: rule, tid: tid, tgid: tgid, syscall: "fault", abi: "x86_64", nr: 0, args: [],
                   decoded: [("rip", ArgumentDecoder.hex(instruction)), ("address", ArgumentDecoder.hex(address))],
                   extra: [("reason", .string(reason))])
            notices.append("pid \(tgid) ended: \(reason)")
            kill(tgid, SIGKILL)
            Ptrace.resume(tid)
        }
    }

    /// The stacks of the code that writes code: every write fault of a process's first 100,
    /// then one in 32 (an unwind costs more than a flip).
    private func sampleCodeWriter(tid: pid_t, tgid: pid_t) {
        let seen = codeWrites[tgid, default: 0]
        codeWrites[tgid] = seen + 1
        guard seen < 100 || seen % 32 == 0 else { return }
        _ = stacks.capture(pid: tgid, tid: tid, category: "wx", rule: "code-write")
    }

    /// Which W^X rule a traced mmap/mprotect/pkey_mprotect breaks, nil when none: W+X at
    /// once; an executable view of shared memory; or (no-exec-gain) memory that gains exec.
    static func wxRuleName(syscall nr: UInt64, args: [UInt64], level: WXLevel, pid: pid_t) -> String? {
        let prot = args[2]
        let writeExec = FilterCompiler.protWrite | FilterCompiler.protExec
        if prot & writeExec == writeExec { return "wx-simultaneous" }
        guard prot & FilterCompiler.protExec != 0 else { return nil }
        if nr == 9 /* mmap */ {
            return args[3] & 0x1 != 0 ? "shared-exec" : nil
        }
        let region = TraceeMemory.regionFlags(pid: pid, start: args[0], length: args[1])
        if region.shared { return "shared-exec" }
        if level == .noExecGain && !region.allExecutable { return "exec-gain" }
        return nil
    }

    private func act(rule: CompiledRule, tid: pid_t, tgid: pid_t, syscall: String, abi: String,
                     nr: UInt64, args: [UInt64]) {
        record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: abi, nr: nr, args: args)
        perform(rule.action, tid: tid, tgid: tgid, syscall: syscall)
    }

    /// Writes the policy event of one call (with its stack) and counts it.
    func record(rule: CompiledRule, tid: pid_t, tgid: pid_t, syscall: String, abi: String,
                        nr: UInt64, args: [UInt64], decoded given: [(String, JSONValue)]? = nil,
                        extra: [(String, JSONValue)] = [], withStack: Bool = true) {
        let decoded = given ?? ArgumentDecoder.decode(syscall: syscall, args: args, pid: tid)
        var fields: [(String, JSONValue)] = [
            ("pid", .int(Int64(tgid))), ("tid", .int(Int64(tid))),
            ("exe", .string(processes[tgid]?.exe ?? "?")),
            ("syscall", .string(syscall)), ("nr", .uint(nr)), ("abi", .string(abi)),
            ("args", .object(decoded)),
            ("category", .string(rule.category)), ("rule", .string(rule.name)),
            ("action", .string(rule.action.name)),
        ]
        var result = ""
        if case .deny(let code) = rule.action {
            fields.append(("errno", .string(ErrnoName.name(of: code))))
            result = " = -\(ErrnoName.name(of: code))"
        }
        if let written = rule.auditedFrom {
            fields.append(("audited", .string(written.description)))
        }
        fields.append(contentsOf: extra)
        fields.append(contentsOf: withStack ? stacks.capture(pid: tgid, tid: tid, category: rule.category, rule: rule.name)
                                            : [("stack", .null), ("site", .null)])
        let countKey = "\(rule.category)\u{1}\(rule.name)\u{1}\(rule.action)"
        if let index = countIndex[countKey] {
            counts[index].count += 1
        } else {
            countIndex[countKey] = counts.count
            counts.append(RuleCount(category: rule.category, rule: rule.name, action: rule.action.description,
                                    auditedFrom: rule.auditedFrom?.description, count: 1))
        }
        if firstBlocked == nil && (rule.action.blocks || rule.auditedFrom != nil) {
            firstBlocked = "pid \(tgid) \(ArgumentDecoder.render(syscall: syscall, decoded: decoded))\(result)"
                + "  [\(rule.category)/\(rule.name), \(rule.action)]"
        }
        // Written after the thread is resumed (see `handle`): the program does not wait for
        // the JSON encoding and the write(2).
        pendingPolicyEvent = fields
    }

    /// Carries out an action at a seccomp stop and resumes the thread.
    func perform(_ action: Action, tid: pid_t, tgid: pid_t, syscall: String) {
        switch action {
        case .allow, .log, .route:
            Ptrace.resume(tid)
        case .deny(let code):
            do {
                try Ptrace.skipSyscall(tid, errno: code)
            } catch {
                // The call must not run unchecked: end the process instead.
                recordFailure("could not deny \(syscall) in \(tid): \(error); killed the process")
                kill(tgid, SIGKILL)
            }
            Ptrace.resume(tid)
        case .kill:
            kill(tgid, SIGKILL)
            Ptrace.resume(tid)
        case .noop:
            // Skipped with a result of 0: "succeeds, does nothing" (FSNetStops).
            perform(.deny(errno: 0), tid: tid, tgid: tgid, syscall: syscall)
        }
    }

    // MARK: output

    private func emit(_ type: EventType, _ fields: [(String, JSONValue)]) {
        do {
            try writer.write(type, fields)
        } catch {
            // Nothing may run unobserved: without a trace the run ends.
            recordFailure("\(error); stopping the program")
            killEverything()
        }
    }

    private func recordFailure(_ message: String) {
        if failure == nil { failure = message }
    }

    private func killEverything() {
        guard !killedAll else { return }
        killedAll = true
        for tgid in Set(tasks.values.map(\.tgid)) { kill(tgid, SIGKILL) }
    }

    private func exitFields(pid: pid_t, status: WaitStatus) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [("pid", .int(Int64(pid))),
                                             ("exe", .string(processes[pid]?.exe ?? "?"))]
        switch status {
        case .exited(let code):
            fields.append(("code", .int(Int64(code))))
        case .signaled(let signal):
            fields.append(("signal", .string(FlagTables.signalName(signal))))
        case .stopped:
            break
        }
        if let emulator {
            let counters = emulator.processGone(pid)
            wxTotals.add(counters)
            fields.append(("wx_emulation", counters.json))
        }
        return fields
    }

    private func finish() -> RunOutcome {
        let status = rootStatus ?? .signaled(signal: SIGKILL)
        let (exitStatus, ending): (Int32, String) = switch status {
        case .exited(let code): (code, "exited with status \(code)")
        case .signaled(let signal): (128 + signal, "killed by \(FlagTables.signalName(signal))")
        case .stopped: (125, "lost")
        }
        let ruleCounts = counts
        var fields = exitFields(pid: root, status: status)
        fields.append(("exit_status", .int(Int64(exitStatus))))
        fields.append(("final", .bool(true)))
        fields.append(("processes", .int(Int64(processIDs.count))))
        fields.append(("counts", .array(ruleCounts.map { count in
            var members: [(String, JSONValue)] = [
                ("category", .string(count.category)), ("rule", .string(count.rule)),
                ("action", .string(count.action)), ("count", .int(Int64(count.count))),
            ]
            if let audited = count.auditedFrom { members.append(("audited", .string(audited))) }
            return .object(members)
        })))
        let unwinding = stacks.stats
        if unwinding.unwinds > 0 {
            fields.append(("stacks", .object([
                ("unwinds", .int(Int64(unwinding.unwinds))),
                ("unwind_ms", .double(Double(unwinding.unwindNanoseconds) / 1e6)),
                ("symbol_index_ms", .double(Double(unwinding.symbolIndexNanoseconds) / 1e6)),
                ("symbol_indexes", .int(Int64(unwinding.symbolIndexBuilds))),
                ("symbol_indexes_cached", .int(Int64(unwinding.symbolIndexesLoaded))),
            ])))
        }
        if emulator != nil {
            fields.append(("wx_emulation_total", wxTotals.json))
            let writers = stacks.summaries.filter { $0.rule == "code-write" }.prefix(5)
            if !writers.isEmpty {
                fields.append(("code_writers", .array(writers.map { site in
                    .object([("site", .string(site.site)), ("sampled_faults", .int(Int64(site.count))),
                             ("frames", .array(site.names.map { .string($0) }))])
                })))
            }
        }
        if !notices.isEmpty { fields.append(("notices", .array(notices.map { .string($0) }))) }
        if let failure { fields.append(("error", .string(failure))) }
        emit(.exit, fields)
        return RunOutcome(exitStatus: exitStatus, ending: ending, counts: ruleCounts, firstBlocked: firstBlocked,
                          eventsWritten: writer.count, processes: processIDs.count, failure: failure,
                          sites: stacks.summaries, processIDs: processIDs,
                          wxEmulation: emulator == nil ? nil : wxTotals, notices: notices)
    }
}
