import StrictrunPolicy
import StrictrunSystem

/// What the tracer must decide at a seccomp stop beyond the rule itself.
public enum RuleCheck: Sendable, Hashable {
    /// Act on every call the filter sends.
    case always
    /// execve/execveat: the program's own first exec passes silently.
    case execAfterFirst
    /// A W^X call the filter could not judge alone: the tracer names the rule from the
    /// arguments and the program's mappings (`wx-simultaneous`, `shared-exec`, `exec-gain`),
    /// or lets the call pass (an mprotect(PROT_EXEC) that gains nothing at this level).
    case wx(StrictrunPolicy.WXLevel)
    /// connect(): the tracer reads the sockaddr; TLS ports get the rule's action (route…),
    /// other ports pass with the checked address pinned.
    case tlsConnect
    /// sendto(MSG_FASTOPEN): a connect in disguise; denied toward TLS ports.
    case tlsFastOpen
    /// getpeername(): a routed socket answers the address the program connected to (PeerNameCheck).
    case peerName
    /// open/openat/openat2 while client-certificate keys exist: their keys are the broker's.
    case clientKeyOpen
    /// open/openat/openat2 that can read: private-key material is the trusted component's
    /// (`tls.keys`, KeyReadCheck).
    case keyRead
    /// open/openat/openat2 for writing: /proc/PID/mem writes through any page protection.
    case procMemOpen
    /// Not a filter rule: a call of a vfork/CLONE_VM child before its exec where fork is denied
    /// (SpawnChildCheck, at syscall-entry stops).
    case spawnChild
    /// A file mapping that becomes executable or shared-writable: W+X by alias (WXAliasCheck).
    case wxAlias
    /// kill/tgkill/tkill/pidfd_* that may be aimed at strictrun itself.
    case supervisorSignal
    /// A call that could change the trace file (open for writing, truncate, unlink, rename),
    /// traced only for that check.
    case traceTamper
    /// add_key/request_key/keyctl: the keyrings hold strictrun's filter-cache secret (KeyringCheck).
    case keyring
    /// Not a call: the stack an exec gave the new image is executable (checked at the exec event).
    case execStack
    /// personality(READ_IMPLIES_EXEC…): the rule's action unless the call is the query 0xffffffff.
    case personality
    /// seccomp(2)/prctl(PR_SET_SECCOMP): a filter of the program's is read, refused when it can
    /// return TRACE or USER_NOTIF, and installed from a pinned copy otherwise.
    case seccompFilter
    /// A call of the `fs`/`net` sections the tracer judges (FSNetStops.swift).
    case fsNet(FSNetCheck)
}

/// One rule the filter can hand to the tracer, by the 16-bit SECCOMP_RET_DATA id.
public struct CompiledRule: Sendable, Hashable {
    public var id: UInt16
    /// Event category: `process`, `wx`, `escape`, or a profile's own.
    public var category: String
    /// Rule name in events: `fork`, `spawn`, `exec`, `wx-simultaneous`, `exec-gain`, …
    public var name: String
    /// The action in force (after `mode: audit`).
    public var action: Action
    /// The action as written, when audit mode changed it.
    public var auditedFrom: Action?
    public var check: RuleCheck
    /// Where the rule was written in the profile.
    public var location: SourceLocation?
}

/// Stage 3 of compilation, the result: a profile compiled for x86_64, the BPF program and
/// the table the tracer decodes SECCOMP_RET_DATA with (made by `SeccompBackend`).
public struct CompiledPolicy: Sendable {
    public var profile: Profile
    /// The classic-BPF program, as `struct sock_filter` entries (8 bytes each).
    public var program: [BPFInstruction]
    public var rules: [UInt16: CompiledRule]
    /// libseccomp's pseudo-filter-code rendering (`seccomp_export_pfc`); empty when compiled for a run.
    public var pseudoCode: String
    /// The rule that a syscall of another ABI reaches (nil when allowed silently).
    public var foreignABIRule: CompiledRule?
    /// Whether the child must set PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN) before exec.
    public var kernelMDWE: Bool
    /// How the fs view and net stack were built for this run (set at launch; nil before).
    public var confinement: ConfinementView? = nil
    /// Whether any rule sends calls to the tracer (if not, a run needs no ptrace at all).
    public var needsTracer: Bool { !rules.isEmpty }

    /// The program with every `SECCOMP_RET_TRACE` return made `SECCOMP_RET_ALLOW`: what the kernel's
    /// filter costs with no tracer (`run --filter-only`, the benchmarks' plain-filter floor). Without a
    /// tracer the kernel answers TRACE with ENOSYS, so a profile that traces opens (every shipped one
    /// does) could not even load a dynamically linked program.
    public var untracedProgram: [BPFInstruction] {
        program.map { instruction in
            var out = instruction
            if instruction.code == 0x06, instruction.k & 0xffff_0000 == 0x7ff0_0000 { out.k = 0x7fff_0000 }
            return out
        }
    }
}
