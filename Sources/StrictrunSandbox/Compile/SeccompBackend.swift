#if canImport(Glibc)
import Glibc
#endif
import CSeccomp
import StrictrunPolicy
import StrictrunSystem

/// Stage 2 of compilation: the libseccomp backend. Resolves each rule's syscall name
/// (`seccomp_syscall_resolve_name`), adds it (`seccomp_rule_add_array`), sets the bad-arch
/// action, and exports the BPF program and libseccomp's pseudo-filter code, in the parent.
/// The only code of the compiler that knows libseccomp; every decision was made before
/// (`RuleListBuilder`).
public struct SeccompBackend {
    public init() {}

    /// Whether `name` is a syscall on x86_64 (`seccomp_syscall_resolve_name`).
    /// Whether `name` is a syscall here: libseccomp's table, or (for calls newer than this
    /// libseccomp, e.g. `mseal` under 2.5) the kernel headers' table.
    public static func syscallExists(_ name: String) -> Bool { number(of: name) != nil }

    /// libseccomp's number for `name`, else the kernel headers' (a raw native number is accepted).
    static func number(of name: String) -> Int32? {
        let nr = seccomp_syscall_resolve_name(name)
        return nr >= 0 ? nr : SyscallTable.number(name)
    }

    /// Compile `list` into the immutable policy the launcher and the tracer use. `pseudoCode`:
    /// also export libseccomp's pseudo-filter code (`profile show`); a run does without it.
    public func compile(_ list: RuleList, pseudoCode withPseudoCode: Bool = true) throws(ProfileError) -> CompiledPolicy {
        let profile = list.profile
        let file = profile.sources.first ?? profile.name
        guard let ctx = seccomp_init(list.defaultAction.rawValue) else {
            throw ProfileError(file: file, message: "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        for rule in list.filterRules { try add(rule, to: ctx, file: file) }
        if let badArch = list.badArchAction {
            let rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badArch.rawValue)
            if rc < 0 {
                throw ProfileError(file: file, message: "seccomp_attr_set(ACT_BADARCH): \(String(cString: strerror(-rc)))")
            }
        }
        let program = try export(ctx, file: file, pfc: false)
        var policy = self.policy(list, program: BPFInstruction.decode(program))
        if withPseudoCode { policy.pseudoCode = String(decoding: try export(ctx, file: file, pfc: true), as: UTF8.self) }
        return policy
    }

    /// The policy of `list` with `program` as its BPF (compiled now, or taken from the filter cache).
    func policy(_ list: RuleList, program: [BPFInstruction]) -> CompiledPolicy {
        CompiledPolicy(profile: list.profile, program: program, rules: list.rules, pseudoCode: "",
                       foreignABIRule: list.foreignABIRule, kernelMDWE: list.kernelMDWE)
    }

    /// Which libseccomp makes the BPF: its version (seccomp_version) and the build-id of the
    /// library loaded (a rebuilt library of the same version is another compiler).
    public static func libraryIdentity() -> [UInt8] {
        var out: [UInt8] = []
        if let version = seccomp_version()?.pointee {
            for part in [version.major, version.minor, version.micro] {
                withUnsafeBytes(of: UInt32(part).littleEndian) { out.append(contentsOf: $0) }
            }
        }
        let function: @convention(c) () -> UnsafePointer<scmp_version>? = seccomp_version
        out += BuildID.of(unsafeBitCast(function, to: UnsafeRawPointer.self)) ?? []
        return out
    }

    private func add(_ rule: FilterRule, to ctx: scmp_filter_ctx, file: String) throws(ProfileError) {
        let location = rule.location
        guard let nr = Self.number(of: rule.syscall) else {
            throw ProfileError(file: location?.file ?? file, line: location?.line, column: location?.column,
                               message: "unknown syscall '\(rule.syscall)' on x86_64")
        }
        let conditions = rule.conditions.map { condition -> scmp_arg_cmp in
            switch condition.comparison {
            case .maskedEquals(let mask, let value):
                scmp_arg_cmp(arg: condition.index, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
            case .notEquals(let value):
                scmp_arg_cmp(arg: condition.index, op: SCMP_CMP_NE, datum_a: value, datum_b: 0)
            }
        }
        let rc = conditions.withUnsafeBufferPointer {
            seccomp_rule_add_array(ctx, rule.action.rawValue, nr, UInt32($0.count), $0.baseAddress)
        }
        if rc < 0 {
            let why = rc == -EEXIST ? "conflicts with another rule on the same syscall" : String(cString: strerror(-rc))
            throw ProfileError(file: location?.file ?? file, line: location?.line, column: location?.column,
                               message: "cannot add a rule for '\(rule.syscall)': \(why)")
        }
    }

    /// seccomp_export_bpf / seccomp_export_pfc into a memfd, read back (libseccomp 2.5 has
    /// no export to memory).
    private func export(_ ctx: scmp_filter_ctx, file: String, pfc: Bool) throws(ProfileError) -> [UInt8] {
        let fail = { (what: String, code: Int32) in
            ProfileError(file: file, message: "\(what) failed: \(String(cString: strerror(code)))")
        }
        let memory: MemoryFile
        do { memory = try MemoryFile(name: "strictrun-filter") } catch { throw fail(error.operation, error.errno) }
        let rc = pfc ? seccomp_export_pfc(ctx, memory.fd) : seccomp_export_bpf(ctx, memory.fd)
        if rc < 0 { throw fail(pfc ? "seccomp_export_pfc" : "seccomp_export_bpf", -rc) }
        do { return try memory.contents() } catch { throw fail(error.operation, error.errno) }
    }
}
