#if canImport(Glibc)
import Glibc
#endif
import CSeccomp
import CStrictrunShims
import StrictrunPolicy

/// Compiles a `Profile` into a seccomp-BPF program with libseccomp, in the parent.
///
/// The kernel does the common case: every call no rule names is ALLOW inside the filter.
/// A rule whose action is not `allow` becomes `SECCOMP_RET_TRACE | id`, and the tracer
/// acts on it (log, deny with an errno, kill) with the rule table. `clone3` gets ENOSYS so
/// glibc falls back to `clone`, whose flags BPF can read.
public struct FilterCompiler {
    public init() {}

    // Flag bits the filter compares (linux/sched.h, asm-generic/mman-common.h).
    static let cloneVM: UInt64 = 0x100
    static let cloneVFork: UInt64 = 0x4000
    static let cloneThread: UInt64 = 0x10000
    static let cloneUntraced: UInt64 = 0x80_0000
    static let protRead: UInt64 = 0x1
    static let protWrite: UInt64 = 0x2
    static let protExec: UInt64 = 0x4

    static let actAllow: UInt32 = 0x7fff_0000
    static func actTrace(_ id: UInt16) -> UInt32 { 0x7ff0_0000 | UInt32(id) }
    static func actErrno(_ errno: Int32) -> UInt32 { 0x0005_0000 | (UInt32(errno) & 0xffff) }

    public func compile(_ profile: Profile) throws(ProfileError) -> CompiledPolicy {
        guard let ctx = seccomp_init(FilterCompiler.actAllow) else {
            throw ProfileError(file: profile.sources.first ?? profile.name, message: "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        var builder = Builder(ctx: ctx, profile: profile)
        try builder.addRules()

        let program = try export(ctx, profile: profile, pfc: false)
        let pfcBytes = try export(ctx, profile: profile, pfc: true)
        let pseudoCode = String(decoding: pfcBytes, as: UTF8.self)
        let instructions = stride(from: 0, to: program.count - program.count % 8, by: 8).map { i in
            BPFInstruction(code: UInt16(program[i]) | UInt16(program[i + 1]) << 8,
                           jt: program[i + 2], jf: program[i + 3],
                           k: UInt32(program[i + 4]) | UInt32(program[i + 5]) << 8
                               | UInt32(program[i + 6]) << 16 | UInt32(program[i + 7]) << 24)
        }
        let mdwe = profile.wx.level == .noExecGain && profile.effective(profile.wx.action).blocks
        return CompiledPolicy(profile: profile, program: instructions, rules: builder.rules,
                              pseudoCode: pseudoCode, foreignABIRule: builder.foreignRule, kernelMDWE: mdwe)
    }

    /// seccomp_export_bpf / seccomp_export_pfc into a memfd, read back (libseccomp 2.5 has
    /// no export to memory).
    private func export(_ ctx: scmp_filter_ctx, profile: Profile, pfc: Bool) throws(ProfileError) -> [UInt8] {
        let fail = { (what: String, code: Int32) in
            ProfileError(file: profile.sources.first ?? profile.name,
                         message: "\(what) failed: \(String(cString: strerror(code)))")
        }
        let fd = strictrun_memfd_create("strictrun-filter")
        if fd < 0 { throw fail("memfd_create", errno) }
        defer { close(fd) }
        let rc = pfc ? seccomp_export_pfc(ctx, fd) : seccomp_export_bpf(ctx, fd)
        if rc < 0 { throw fail(pfc ? "seccomp_export_pfc" : "seccomp_export_bpf", -rc) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 { if errno == EINTR { continue }; throw fail("pread", errno) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
        }
        return bytes
    }
}

/// Adds one profile's rules to a libseccomp context, numbering the traced ones.
struct Builder {
    let ctx: scmp_filter_ctx
    let profile: Profile
    var rules: [UInt16: CompiledRule] = [:]
    var foreignRule: CompiledRule?
    private var nextID: UInt16 = 1

    init(ctx: scmp_filter_ctx, profile: Profile) {
        self.ctx = ctx
        self.profile = profile
    }

    var file: String { profile.sources.first ?? profile.name }

    mutating func addRules() throws(ProfileError) {
        let process = profile.process
        let escape = profile.escape
        // Threads (CLONE_THREAD) never match: the default action allows them in the kernel.
        // The three clone rules are disjoint (CLONE_UNTRACED set, or clear with a fork or a
        // spawn shape), so libseccomp's order among them does not matter.
        let untraced = FilterCompiler.cloneUntraced
        let cloneKind = FilterCompiler.cloneThread | FilterCompiler.cloneVM | untraced
        if let fork = register("process", "fork", process.fork, .always) {
            try add("fork", fork)
            try add("clone", fork, [cmp(0, mask: cloneKind, equals: 0)])
        }
        if let spawn = register("process", "spawn", process.spawn, .always) {
            try add("vfork", spawn)
            try add("clone", spawn, [cmp(0, mask: cloneKind, equals: FilterCompiler.cloneVM)])
        }
        if let rule = register("escape", "untraced-clone", escape.untracedClone, .always) {
            try add("clone", rule, [cmp(0, mask: untraced, equals: untraced)])
        }
        if let exec = register("process", "exec", process.exec, .execAfterFirst) {
            try add("execve", exec)
            try add("execveat", exec)
        }
        let tracesProcesses = [process.fork, process.spawn, escape.untracedClone]
            .contains { profile.effective($0) != .allow }
        if tracesProcesses {
            // clone3 passes its flags in memory, where BPF cannot look.
            try addRaw("clone3", action: FilterCompiler.actErrno(ENOSYS), [], at: nil)
        }

        let wx = profile.wx
        let writeExec = FilterCompiler.protWrite | FilterCompiler.protExec
        let exec = FilterCompiler.protExec
        // Emulation needs the tracer to rewrite calls: under `mode: audit` (nothing blocked)
        // the level falls back to `simultaneous`, which logs W+X requests.
        let level = wx.level == .emulate && !profile.effective(wx.action).blocks ? .simultaneous : wx.level
        if level != .off, let rule = register("wx", "wx", wx.action, .wx(level)) {
            // mmap: W+X at once, or an executable MAP_SHARED view (another view of the same
            // object can write it). Disjoint conditions again.
            try add("mmap", rule, [cmp(2, mask: writeExec, equals: writeExec)])
            try add("mmap", rule, [cmp(2, mask: writeExec, equals: exec), cmp(3, mask: 0x1, equals: 0x1)])
            if level == .emulate {
                // The emulator keeps a table of the pages it flips: every call that could
                // replace or re-protect them reaches the tracer (a few hundred per Node run).
                // MAP_FIXED without W+X (W+X is above: the conditions stay disjoint).
                try add("mmap", rule, [cmp(2, mask: writeExec, equals: 0), cmp(3, mask: 0x10, equals: 0x10)])
                try add("mmap", rule, [cmp(2, mask: writeExec, equals: FilterCompiler.protWrite),
                                       cmp(3, mask: 0x10, equals: 0x10)])
                try add("mmap", rule, [cmp(2, mask: writeExec, equals: exec), cmp(3, mask: 0x11, equals: 0x10)])
                for name in ["mprotect", "munmap", "mremap"] { try add(name, rule) }
                // pkey_mprotect(-1) is how the emulator's own trampoline flips a page
                // (see WXEmulator): its RW flips pass in the kernel; everything else —
                // a real protection key, or any exec, its own RX flips included — is seen
                // by the tracer, so a program cannot use the same call to make shared
                // memory executable.
                try add("pkey_mprotect", rule, [scmp_arg_cmp(arg: 3, op: SCMP_CMP_NE, datum_a: 0xffff_ffff, datum_b: 0)])
                try add("pkey_mprotect", rule, [cmp(3, mask: 0xffff_ffff, equals: 0xffff_ffff),
                                                cmp(2, mask: exec, equals: exec)])
            } else {
                // mprotect(PROT_EXEC): W+X, a shared mapping, or (no-exec-gain) a gain — the
                // tracer reads the program's mappings to tell.
                for name in ["mprotect", "pkey_mprotect"] {
                    try add(name, rule, [cmp(2, mask: exec, equals: exec)])
                }
            }
            // shmat(SHM_EXEC), remap_file_pages: other ways to executable shared memory.
            let shmExec: UInt64 = 0o100000
            if let shm = register("wx", "shm-exec", wx.action, .always) {
                try add("shmat", shm, [cmp(2, mask: shmExec, equals: shmExec)])
            }
            if let remap = register("wx", "remap-file-pages", wx.action, .always) {
                try add("remap_file_pages", remap)
            }
        }

        // Leaving the tracer, writing into another process, executable-by-default memory.
        if let rule = register("escape", "ptrace", escape.ptrace, .always) { try add("ptrace", rule) }
        if let rule = register("escape", "process-vm-writev", escape.processVMWrite, .always) {
            try add("process_vm_writev", rule)
        }
        if let rule = register("escape", "read-implies-exec", escape.readImpliesExec, .always) {
            let readImpliesExec: UInt64 = 0x0400000
            // personality(0xffffffff) only queries: bit 31 (never a personality flag) tells it apart.
            try add("personality", rule, [cmp(0, mask: readImpliesExec | 0x8000_0000, equals: readImpliesExec)])
        }
        if let rule = register("escape", "seccomp", escape.seccompChange, .always) {
            try add("seccomp", rule)
            // PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_SET_MDWE, PR_SET_PTRACER.
            for option: UInt64 in [22, 38, 65, 0x5961_6d61] {
                try add("prctl", rule, [cmp(0, mask: 0xffff_ffff, equals: option)])
            }
        }

        // Mediated TLS: BPF cannot read a sockaddr, so every connect() reaches the tracer
        // when a tls rule is active (and none does without one).
        if let tls = profile.tls, let rule = register("tls", "tls-port", tls.action, .tlsConnect) {
            try add("connect", rule)
            let fastOpen: UInt64 = 0x2000_0000
            if let sendto = register("tls", "fastopen", RuleSetting(.deny(errno: EOPNOTSUPP), at: tls.action.location),
                                     .tlsFastOpen) {
                try add("sendto", sendto, [cmp(3, mask: fastOpen, equals: fastOpen)])
            }
            if !tls.clientCertificates.isEmpty,
               let keys = register("tls", "client-key", RuleSetting(.deny(errno: EACCES), at: tls.clientCertificates[0].location),
                                   .clientKeyOpen) {
                for name in ["open", "openat", "openat2"] { try add(name, keys) }
            }
        }

        // Files and sockets as the target serves them (FSNetRules.swift).
        try addFSNetRules()

        // /proc/PID/mem opened for writing writes through any page protection (FOLL_FORCE):
        // a W^X bypass. BPF sees the flags, the tracer the path. With client-certificate
        // keys or an fs view every open is traced already, and that stop checks this rule too.
        if level != .off, let rule = register("wx", "proc-mem-write", wx.action, .procMemOpen),
           !rules.values.contains(where: { $0.check == .clientKeyOpen || $0.check == .fsNet(.pathResult) }) {
            for (name, flags) in [("open", UInt32(1)), ("openat", UInt32(2))] {
                try add(name, rule, [cmp(flags, mask: 0x1, equals: 0x1)])  // O_WRONLY
                try add(name, rule, [cmp(flags, mask: 0x2, equals: 0x2)])  // O_RDWR
            }
            try add("openat2", rule)  // its flags are in memory
        }

        // Every other ABI (i386 int 0x80, x32) reaches the bad-arch action.
        if let foreign = register("escape", "foreign-abi", profile.escape.foreignABI, .always) {
            foreignRule = foreign
            let rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, FilterCompiler.actTrace(foreign.id))
            if rc < 0 { throw ProfileError(file: file, message: "seccomp_attr_set(ACT_BADARCH): \(String(cString: strerror(-rc)))") }
        }

        for rule in profile.rules {
            if let compiled = register(rule.category, rule.name, rule.setting, .always) {
                try add(rule.syscall, compiled)
            } else {
                try addRaw(rule.syscall, action: FilterCompiler.actAllow, [], at: rule.setting.location)
            }
        }
    }

    /// Number a rule the tracer must see; nil when its action is a plain allow.
    mutating func register(_ category: String, _ name: String, _ setting: RuleSetting,
                           _ check: RuleCheck) -> CompiledRule? {
        let action = profile.effective(setting)
        guard action.needsTracer else { return nil }
        let rule = CompiledRule(id: nextID, category: category, name: name, action: action,
                                auditedFrom: action == setting.action ? nil : setting.action,
                                check: check, location: setting.location)
        rules[nextID] = rule
        nextID += 1
        return rule
    }

    func cmp(_ arg: UInt32, mask: UInt64, equals value: UInt64) -> scmp_arg_cmp {
        scmp_arg_cmp(arg: arg, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
    }

    func add(_ syscall: String, _ rule: CompiledRule, _ conditions: [scmp_arg_cmp] = []) throws(ProfileError) {
        try addRaw(syscall, action: FilterCompiler.actTrace(rule.id), conditions, at: rule.location)
    }

    func addRaw(_ syscall: String, action: UInt32, _ conditions: [scmp_arg_cmp],
                at location: SourceLocation?) throws(ProfileError) {
        let nr = seccomp_syscall_resolve_name(syscall)
        guard nr >= 0 else {
            throw ProfileError(file: location?.file ?? file, line: location?.line, column: location?.column,
                               message: "unknown syscall '\(syscall)' on x86_64")
        }
        let rc = conditions.withUnsafeBufferPointer {
            seccomp_rule_add_array(ctx, action, nr, UInt32($0.count), $0.baseAddress)
        }
        if rc < 0 {
            let why = rc == -EEXIST ? "conflicts with another rule on the same syscall" : String(cString: strerror(-rc))
            throw ProfileError(file: location?.file ?? file, line: location?.line, column: location?.column,
                               message: "cannot add a rule for '\(syscall)': \(why)")
        }
    }
}
