import StrictrunPolicy
import StrictrunSystem

/// The checks of one run, and which one judges a stop: by the rule the filter's
/// SECCOMP_RET_DATA names. Pure apart from the W^X emulator's page table.
struct Checks {
    let policy: CompiledPolicy
    let tracee: any TraceeView
    let open: OpenCheck
    let fsView: FSViewCheck
    /// The fs view's rule: when there is one, every open is judged through the view.
    let fsViewRule: CompiledRule?
    let net: NetResultCheck
    let tls: TLSConnectCheck
    let peerName: PeerNameCheck
    let emulation: WXEmulationCheck?
    /// The rule an executable stack breaks (nil: W^X is off).
    let execStack: CompiledRule?
    /// The rule a vfork/CLONE_VM child's calls before exec meet (nil: fork is not denied).
    let spawnChild: CompiledRule?

    let supervisor: SupervisorSignalCheck
    let alias: WXAliasCheck

    init(policy: CompiledPolicy, tracee: any TraceeView, emulator: WXEmulator?, canRoute: Bool,
         routed: RoutedSockets? = nil, trace: FileIdentity? = nil, traceDamage: (@Sendable () -> String?)? = nil) {
        peerName = PeerNameCheck(routed: routed)
        supervisor = SupervisorSignalCheck(supervisor: Signals.ownProcess, supervisorGroup: Signals.ownProcessGroup)
        let alias = WXAliasCheck(rule: policy.rules.values.first { $0.check == .wxAlias }, known: ExecutableFiles())
        self.alias = alias
        self.policy = policy
        self.tracee = tracee
        let keys = (policy.profile.tls?.clientCertificates ?? []).map { Array($0.key.utf8) }
        var open = OpenCheck(keyFiles: Set(keys.map { ProcFS.realPath($0) ?? $0 }),
                             procMemRule: policy.rules.values.first { $0.check == .procMemOpen })
        open.clientKeyRule = policy.rules.values.first { $0.check == .clientKeyOpen }
        open.tamper = TraceTamperCheck(trace: trace, damage: traceDamage)
        open.keyRead = KeyReadCheck(rule: policy.rules.values.first { $0.check == .keyRead }, company: open.tamper.company)
        open.alias = alias
        self.open = open
        fsView = FSViewCheck(view: policy.confinement, openCheck: open)
        fsViewRule = policy.rules.values.first { $0.check == .fsNet(.pathResult) }
        net = NetResultCheck(view: policy.confinement, unixSocketDirectories: policy.profile.fs?.unixSocketDirectories)
        tls = TLSConnectCheck(tls: policy.profile.tls, canRoute: canRoute, company: open.tamper.company)
        emulation = emulator.map { WXEmulationCheck(emulator: $0, alias: alias) }
        execStack = policy.rules.values.first { $0.check == .execStack }
        spawnChild = policy.rules.values.first { $0.check == .spawnChild }
    }

    /// The rule a stop came with: the foreign-ABI rule for another ABI, else the rule the
    /// filter's data names; nil when the data names no rule of this policy.
    func rule(for info: SyscallInfo) -> CompiledRule? {
        SyscallABI.isNative(arch: info.arch, number: info.number) ? policy.rules[info.ruleData] : policy.foreignABIRule
    }

    /// The decision on one stop under `rule`.
    func decide(_ rule: CompiledRule, _ stop: SyscallStop, firstExecOfRoot: Bool) -> Decision {
        switch rule.check {
        case .always, .execAfterFirst:
            return ProcessCheck.decide(rule, stop, firstExecOfRoot: firstExecOfRoot)
        case .wx(.emulate):
            return emulation?.decide(rule, stop, tracee: tracee) ?? .pass
        case .wx(let level):
            var decision = WXCheck.decide(rule, stop, level: level, view: tracee)
            if decision.events.isEmpty, let aliased = alias.decide(stop, view: tracee) { return aliased }
            if decision.events.isEmpty { decision.verdict.atExit = WXCheck.reverify(rule, stop, level: level, view: tracee) }
            return decision
        case .wxAlias:
            return alias.decide(stop, view: tracee) ?? .pass
        case .tlsConnect, .tlsFastOpen:
            return tls.decide(rule, stop, tracee: tracee)
        case .peerName:
            return peerName.decide(stop, view: tracee)
        case .execStack, .spawnChild:
            return .pass  // never sent by the filter
        case .personality:
            return PersonalityCheck.decide(rule, stop)
        case .supervisorSignal:
            return supervisor.decide(stop, view: tracee)
        case .traceTamper:
            return OpenFlags.isOpen(stop.name) ? openStop(stop) : open.tamper.decideAlone(stop, view: tracee)
        case .seccompFilter:
            return SeccompFilterCheck.decide(rule, stop, view: tracee)
        case .keyring:
            return KeyringCheck.decide(stop)
        case .clientKeyOpen, .keyRead, .procMemOpen:
            return openStop(stop)
        case .fsNet(.pathResult):
            return fsView.decide(rule, stop, tracee: tracee)
        case .fsNet(let check):
            return net.decide(check, rule, stop, tracee: tracee)
        }
    }

    /// An open stop, whichever rule the filter traced it under (one rule per filter entry): every
    /// open check runs — client keys, key material, /proc/PID/mem, the trace, W+X by alias — and
    /// under an fs view the view's too.
    func openStop(_ stop: SyscallStop) -> Decision {
        if let fsViewRule { return fsView.decide(fsViewRule, stop, tracee: tracee) }
        return open.decide(stop, view: tracee)
    }

    /// Data that names no rule (a filter of the program's own returned TRACE): denied, logged.
    static func unknownRule(_ stop: SyscallStop) -> Decision {
        let rule = CompiledRule.builtIn("escape", "unknown-rule", .deny(errno: Errno.noSys))
        return .act(rule, stop, extra: [("reason", .string(
            "SECCOMP_RET_TRACE data \(stop.info.ruleData) names no rule of strictrun's filter "
            + "(a filter the program installed returned it): the call is refused"))])
    }
}
