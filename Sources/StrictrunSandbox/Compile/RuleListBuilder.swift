#if canImport(Glibc)
import Glibc
#endif
import StrictrunPolicy

/// Builds a profile's `RuleList`: every rule decision, as pure code (no libseccomp).
///
/// The kernel does the common case: every call no rule names is ALLOW inside the filter.
/// A rule whose action is not `allow` becomes `SECCOMP_RET_TRACE | id`, and the tracer
/// acts on it (log, deny with an errno, kill) with the rule table. `clone3` gets ENOSYS so
/// glibc falls back to `clone`, whose flags BPF can read. Rules on one syscall are kept
/// disjoint, so the order libseccomp gives them does not matter; the list keeps the order
/// they were added in anyway (the backend's BPF is then the same, byte for byte).
public struct RuleListBuilder {
    let profile: Profile
    /// Whether a syscall name exists on x86_64 (injected: the backend knows, this stage does not).
    let syscallExists: (String) -> Bool
    /// strictrun's process id (SupervisorSignalCheck), when the filter is for a run.
    let supervisor: Int32?
    private(set) var filterRules: [FilterRule] = []
    private(set) var rules: [UInt16: CompiledRule] = [:]
    private(set) var foreignRule: CompiledRule?
    private var nextID: UInt16 = 1

    /// The rule list of `profile`; `syscallExists` says which optional syscalls (fchmodat2…)
    /// this kernel ABI has.
    public static func rules(for profile: Profile, syscallExists: (String) -> Bool,
                             supervisor: Int32? = nil) -> RuleList {
        withoutActuallyEscaping(syscallExists) { exists in
            var builder = RuleListBuilder(profile: profile, syscallExists: exists, supervisor: supervisor)
            builder.addRules()
            let mdwe = profile.wx.level == .noExecGain && profile.effective(profile.wx.action).blocks
            return RuleList(profile: profile, filterRules: builder.filterRules,
                            badArchAction: builder.foreignRule.map { .trace($0.id) },
                            rules: builder.rules, foreignABIRule: builder.foreignRule, kernelMDWE: mdwe)
        }
    }

    private init(profile: Profile, syscallExists: @escaping (String) -> Bool, supervisor: Int32?) {
        self.profile = profile
        self.syscallExists = syscallExists
        self.supervisor = supervisor
    }

    /// The W^X level the filter enforces. Emulation needs the tracer to rewrite calls:
    /// under `mode: audit` (nothing blocked) the level falls back to `simultaneous`, which
    /// logs W+X requests.
    var wxLevel: WXLevel {
        let wx = profile.wx
        return wx.level == .emulate && !profile.effective(wx.action).blocks ? .simultaneous : wx.level
    }

    private mutating func addRules() {
        addProcessRules()
        addWXRules()
        addEscapeRules()
        addSupervisorRules()
        addTLSRules()
        // Files and sockets as the target serves them (FSNetRules.swift).
        addFSNetRules()
        addOpenRules()
        addTraceTamperRules()
        addKeyringRules()
        addForeignABIRule()
        addProfileRules()
    }

    // MARK: registering and adding

    /// Number a rule the tracer must see; nil when its action is a plain allow.
    mutating func register(_ category: String, _ name: String, _ setting: RuleSetting,
                           _ check: RuleCheck) -> CompiledRule? {
        guard profile.effective(setting).needsTracer else { return nil }
        return registerAlways(category, name, setting, check)
    }

    /// Number a rule the tracer must see even when its action is a plain allow (its check
    /// still runs; an allowed call is not recorded).
    mutating func registerAlways(_ category: String, _ name: String, _ setting: RuleSetting,
                                 _ check: RuleCheck) -> CompiledRule {
        let action = profile.effective(setting)
        let rule = CompiledRule(id: nextID, category: category, name: name, action: action,
                                auditedFrom: action == setting.action ? nil : setting.action,
                                check: check, location: setting.location)
        rules[nextID] = rule
        nextID += 1
        return rule
    }

    func cmp(_ arg: UInt32, mask: UInt64, equals value: UInt64) -> ArgumentCondition {
        .masked(arg, mask: mask, equals: value)
    }

    /// Send `syscall` (when `conditions` hold) to the tracer under `rule`.
    mutating func add(_ syscall: String, _ rule: CompiledRule, _ conditions: [ArgumentCondition] = []) {
        addRaw(syscall, action: .trace(rule.id), conditions, at: rule.location)
    }

    mutating func addRaw(_ syscall: String, action: FilterAction, _ conditions: [ArgumentCondition],
                         at location: SourceLocation?) {
        filterRules.append(FilterRule(syscall: syscall, action: action, conditions: conditions, location: location))
    }

    func resolves(_ name: String) -> Bool { syscallExists(name) }

    // MARK: process

    private mutating func addProcessRules() {
        let process = profile.process
        let escape = profile.escape
        // Threads (CLONE_THREAD) never match: the default action allows them in the kernel.
        // The three clone rules are disjoint (CLONE_UNTRACED set, or clear with a fork or a
        // spawn shape), so libseccomp's order among them does not matter.
        let untraced = FilterCompiler.cloneUntraced
        let cloneKind = FilterCompiler.cloneThread | FilterCompiler.cloneVM | untraced
        if let fork = register("process", "fork", process.fork, .always) {
            add("fork", fork)
            add("clone", fork, [cmp(0, mask: cloneKind, equals: 0)])
        }
        if process.fork.action.blocks {
            // Where fork is denied, a child sharing its parent's memory may only prepare an exec
            // (SpawnChildCheck at each of its calls; no filter entry). Under audit: logged.
            _ = register("process", "spawn-child", process.fork, .spawnChild)
        }
        if let spawn = register("process", "spawn", process.spawn, .always) {
            add("vfork", spawn)
            add("clone", spawn, [cmp(0, mask: cloneKind, equals: FilterCompiler.cloneVM)])
        }
        if let rule = register("escape", "untraced-clone", escape.untracedClone, .always) {
            add("clone", rule, [cmp(0, mask: untraced, equals: untraced)])
        }
        if let exec = register("process", "exec", process.exec, .execAfterFirst) {
            add("execve", exec)
            add("execveat", exec)
        }
        let tracesProcesses = [process.fork, process.spawn, escape.untracedClone]
            .contains { profile.effective($0) != .allow }
        if tracesProcesses {
            // clone3 passes its flags in memory, where BPF cannot look.
            addRaw("clone3", action: .errno(ENOSYS), [], at: nil)
        }
    }

    // MARK: W^X

    private mutating func addWXRules() {
        let wx = profile.wx
        let writeExec = FilterCompiler.protWrite | FilterCompiler.protExec
        let exec = FilterCompiler.protExec
        let level = wxLevel
        guard level != .off, let rule = register("wx", "wx", wx.action, .wx(level)) else { return }
        // mmap: W+X at once, or an executable MAP_SHARED view (another view of the same
        // object can write it). Disjoint conditions again.
        add("mmap", rule, [cmp(2, mask: writeExec, equals: writeExec)])
        add("mmap", rule, [cmp(2, mask: writeExec, equals: exec), cmp(3, mask: FilterCompiler.mapShared,
                                                                      equals: FilterCompiler.mapShared)])
        if level == .emulate {
            // The emulator keeps a table of the pages it flips: every call that could
            // replace or re-protect them reaches the tracer (a few hundred per Node run).
            // MAP_FIXED without W+X (W+X is above: the conditions stay disjoint).
            let fixed = FilterCompiler.mapFixed
            add("mmap", rule, [cmp(2, mask: writeExec, equals: 0), cmp(3, mask: fixed, equals: fixed)])
            add("mmap", rule, [cmp(2, mask: writeExec, equals: FilterCompiler.protWrite),
                               cmp(3, mask: fixed, equals: fixed)])
            add("mmap", rule, [cmp(2, mask: writeExec, equals: exec),
                               cmp(3, mask: fixed | FilterCompiler.mapShared, equals: fixed)])
            for name in ["mprotect", "munmap", "mremap"] { add(name, rule) }
            // mseal and shmat(SHM_REMAP) over emulated pages would break the flips
            // (WXEmulationCheck refuses them there).
            if resolves("mseal") { add("mseal", rule) }
            let shmRemap: UInt64 = 0o40000, shmExecFlag: UInt64 = 0o100000
            add("shmat", rule, [cmp(2, mask: shmRemap | shmExecFlag, equals: shmRemap)])
            // pkey_mprotect(-1) is how the emulator's own trampoline flips a page
            // (see WXEmulator): its RW flips pass in the kernel; everything else —
            // a real protection key, or any exec, its own RX flips included — is seen
            // by the tracer, so a program cannot use the same call to make shared
            // memory executable.
            let noKey: UInt64 = 0xffff_ffff
            add("pkey_mprotect", rule, [.notEqual(3, noKey)])
            add("pkey_mprotect", rule, [cmp(3, mask: noKey, equals: noKey), cmp(2, mask: exec, equals: exec)])
        } else {
            // mprotect(PROT_EXEC): W+X, a shared mapping, or (no-exec-gain) a gain — the
            // tracer reads the program's mappings to tell.
            for name in ["mprotect", "pkey_mprotect"] {
                add(name, rule, [cmp(2, mask: exec, equals: exec)])
            }
        }
        // W+X by alias (WXAliasCheck): a file mapping made executable while the object can be
        // written another way, or mapped shared-writable while it is mapped executable. The
        // FIXED variants under emulation are the emulator's rules above (it asks the same).
        let aliasSetting = level == .emulate ? RuleSetting(.log, at: wx.action.location) : wx.action
        if let alias = register("wx", "wx-alias", aliasSetting, .wxAlias) {
            let fileMapping = FilterCompiler.mapShared | FilterCompiler.mapAnonymous
                | (level == .emulate ? FilterCompiler.mapFixed : 0)
            add("mmap", alias, [cmp(2, mask: writeExec, equals: exec), cmp(3, mask: fileMapping, equals: 0)])
            add("mmap", alias, [cmp(2, mask: writeExec, equals: FilterCompiler.protWrite),
                                cmp(3, mask: fileMapping, equals: FilterCompiler.mapShared)])
        }
        // shmat(SHM_EXEC), remap_file_pages: other ways to executable shared memory.
        let shmExec: UInt64 = 0o100000
        if let shm = register("wx", "shm-exec", wx.action, .always) {
            add("shmat", shm, [cmp(2, mask: shmExec, equals: shmExec)])
        }
        if let remap = register("wx", "remap-file-pages", wx.action, .always) {
            add("remap_file_pages", remap)
        }
        // An image linked with an executable stack gets an RWX stack at execve, with no call to
        // stop: checked at the exec event (ExecStackCheck), no filter entry.
        _ = register("wx", "exec-stack", wx.action, .execStack)
        // userfaultfd: UFFDIO_COPY fills a page that was never writable, executable ones
        // included. Both ways to get one: the call, and /dev/userfaultfd's USERFAULTFD_IOC_NEW
        // (on any descriptor: BPF sees the command, not the file).
        if let uffd = register("wx", "userfaultfd", wx.action, .always) {
            add("userfaultfd", uffd)
            add("ioctl", uffd, [cmp(1, mask: 0xffff_ffff, equals: FilterCompiler.userfaultfdIocNew)])
        }
    }

    /// The opens (open, creat, openat, openat2), for every check that looks at them. The filter names
    /// one rule per entry, and the tracer runs every open check at each open stop whatever rule it
    /// names (`Checks.openStop`): client-certificate keys, private-key material (`tls/key-read`),
    /// /proc/PID/mem opened for writing (FOLL_FORCE writes through any page protection: a W^X
    /// bypass; BPF sees the flags, the tracer the path), the trace file and W+X by alias.
    /// - With client-certificate keys or an fs view, every open is traced (under the view's rule
    ///   when there is one: the view judges the result too).
    /// - Otherwise the opens that write or truncate, under `proc-mem-write` (or `trace-tamper`
    ///   without a W^X level), and with `tls.keys` the opens that can read (O_RDONLY without O_PATH,
    ///   O_DIRECTORY or O_TRUNC; O_RDWR is among the writing ones) under `key-read`. openat2's flags
    ///   are in memory: it is always traced. creat only writes.
    private mutating func addOpenRules() {
        // Registered first: the other open checks consult it (OpenCheck.procMemRule).
        let procMem = wxLevel == .off ? nil : register("wx", "proc-mem-write", profile.wx.action, .procMemOpen)
        let opens = ["open", "creat", "openat", "openat2"]
        if let every = rules.values.first(where: { $0.check == .fsNet(.pathResult) })
            ?? rules.values.first(where: { $0.check == .clientKeyOpen }) {
            for name in opens { add(name, every) }
            return
        }
        let writes = procMem ?? registerAlways("escape", "trace-tamper", RuleSetting(.deny(errno: EACCES)), .traceTamper)
        let access = FilterCompiler.openWriteOnly | FilterCompiler.openReadWrite
        let keys = rules.values.first { $0.check == .keyRead }
        for (name, flags) in [("open", UInt32(1)), ("openat", UInt32(2))] {
            add(name, writes, [cmp(flags, mask: FilterCompiler.openWriteOnly, equals: FilterCompiler.openWriteOnly)])
            add(name, writes, [cmp(flags, mask: FilterCompiler.openReadWrite, equals: FilterCompiler.openReadWrite)])
            add(name, writes, [cmp(flags, mask: access | FilterCompiler.openTruncate, equals: FilterCompiler.openTruncate)])
            if let keys {
                let skipped = access | FilterCompiler.openTruncate | FilterCompiler.openPath | FilterCompiler.openDirectory
                add(name, keys, [cmp(flags, mask: skipped, equals: 0)])
            }
        }
        add("creat", writes)
        add("openat2", writes)  // its flags are in memory
    }

    /// truncate, unlink and rename of the trace file (TraceTamperCheck); under an fs view they
    /// are traced already, and FSViewCheck makes the same check.
    private mutating func addTraceTamperRules() {
        guard !rules.values.contains(where: { $0.check == .fsNet(.pathResult) }) else { return }
        let rule = registerAlways("escape", "trace-tamper", RuleSetting(.deny(errno: EACCES)), .traceTamper)
        for name in TraceTamperCheck.pathCalls where resolves(name) { add(name, rule) }
    }

    /// The keyrings hold the filter cache's secret (KeyringCheck): refused in every profile and mode.
    private mutating func addKeyringRules() {
        let rule = registerAlways("escape", "keyring", RuleSetting(.deny(errno: EACCES)), .keyring)
        for name in KeyringCheck.calls { add(name, rule) }
    }

    // MARK: escape

    private mutating func addEscapeRules() {
        let escape = profile.escape
        // Leaving the tracer, writing into another process, executable-by-default memory.
        if let rule = register("escape", "ptrace", escape.ptrace, .always) { add("ptrace", rule) }
        if let rule = register("escape", "process-vm-writev", escape.processVMWrite, .always) {
            add("process_vm_writev", rule)
        }
        if let rule = register("escape", "read-implies-exec", escape.readImpliesExec, .personality) {
            // READ_IMPLIES_EXEC set: only exactly 0xffffffff is a query (PersonalityCheck lets it
            // pass); with bit 31 clear the call cannot be one.
            let readImpliesExec = PersonalityCheck.readImpliesExec
            add("personality", rule, [cmp(0, mask: readImpliesExec | 0x8000_0000, equals: readImpliesExec)])
            add("personality", rule, [cmp(0, mask: readImpliesExec | 0x8000_0000, equals: readImpliesExec | 0x8000_0000)])
        }
        // A filter the program installs is read whatever the profile says about seccomp changes
        // (logged by default): one that can return TRACE or USER_NOTIF is refused
        // (SeccompFilterCheck), so the check is in the filter even when changes are allowed.
        let filters = registerAlways("escape", "seccomp", escape.seccompChange, .seccompFilter)
        add("seccomp", filters)
        add("prctl", filters, [cmp(0, mask: 0xffff_ffff, equals: SeccompFilterCheck.setSeccomp)])
        if let rule = register("escape", "seccomp", escape.seccompChange, .always) {
            // PR_SET_NO_NEW_PRIVS, PR_SET_MDWE, PR_SET_PTRACER.
            for option: UInt64 in [38, 65, 0x5961_6d61] {
                add("prctl", rule, [cmp(0, mask: 0xffff_ffff, equals: option)])
            }
        }
    }

    /// Signals and pidfds aimed at strictrun (SupervisorSignalCheck): the calls that name its
    /// pid, and the group-wide kill(0), kill(-pgid), kill(-1) that include it; tkill and
    /// pidfd_send_signal name a thread or a descriptor, which only the tracer can resolve.
    private mutating func addSupervisorRules() {
        guard let supervisor else { return }
        let rule = registerAlways("escape", "signal-supervisor", RuleSetting(.deny(errno: EPERM)), .supervisorSignal)
        let pid = UInt64(UInt32(bitPattern: supervisor))
        add("kill", rule, [cmp(0, mask: 0xffff_ffff, equals: pid)])
        add("kill", rule, [cmp(0, mask: 0xffff_ffff, equals: 0)])
        add("kill", rule, [cmp(0, mask: 0x8000_0000, equals: 0x8000_0000)])
        for name in ["tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open"] {
            add(name, rule, [cmp(0, mask: 0xffff_ffff, equals: pid)])
        }
        add("tkill", rule)
        add("pidfd_send_signal", rule)
    }

    /// Every other ABI (i386 int 0x80, x32) reaches the bad-arch action.
    private mutating func addForeignABIRule() {
        foreignRule = register("escape", "foreign-abi", profile.escape.foreignABI, .always)
    }

    // MARK: tls

    /// Mediated TLS: BPF cannot read a sockaddr, so every connect() reaches the tracer
    /// when a tls rule is active (and none does without one).
    /// Private-key material (`tls.keys`) is judged at the opens that can read, whatever the
    /// connect rule is (addOpenRules adds the filter entries of both key rules).
    private mutating func addTLSRules() {
        guard let tls = profile.tls else { return }
        // Under `mediate: all` the rule is about every TCP stream, not a port.
        if let rule = register("tls", tls.mediate == .all ? "tcp-stream" : "tls-port", tls.action, .tlsConnect) {
            add("connect", rule)
            let fastOpen = FilterCompiler.msgFastOpen
            if let sendto = register("tls", "fastopen", RuleSetting(.deny(errno: EOPNOTSUPP), at: tls.action.location),
                                     .tlsFastOpen) {
                add("sendto", sendto, [cmp(3, mask: fastOpen, equals: fastOpen)])
            }
            if rule.action == .route {
                // A routed socket's peer is the broker: getpeername answers the program's destination.
                add("getpeername", registerAlways("tls", "peer-name", RuleSetting(.allow, at: tls.action.location), .peerName))
            }
            if !tls.clientCertificates.isEmpty {
                // Every open is traced for them.
                _ = register("tls", "client-key", RuleSetting(.deny(errno: EACCES), at: tls.clientCertificates[0].location),
                             .clientKeyOpen)
            }
        }
        if let keys = tls.keys { _ = register("tls", "key-read", keys, .keyRead) }
    }

    // MARK: rules

    /// The profile's own `rules:` list; an `allow` rule is an explicit ALLOW in the filter.
    private mutating func addProfileRules() {
        for rule in profile.rules {
            if let compiled = register(rule.category, rule.name, rule.setting, .always) {
                add(rule.syscall, compiled)
            } else {
                addRaw(rule.syscall, action: .allow, [], at: rule.setting.location)
            }
        }
    }
}
