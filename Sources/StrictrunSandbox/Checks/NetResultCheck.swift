import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// bind/connect and multicast joins under the `fs`/`net` sections: a UNIX socket file outside
/// `fs.unix-sockets` gets the rule's action at once; an IP address runs, and a failure from the
/// TCP-port rules (Landlock) or the isolated stack is logged at the call's exit.
struct NetResultCheck {
    let view: ConfinementView?
    /// `fs.unix-sockets` directories, nil when any.
    let unixSocketDirectories: [String]?

    func decide(_ check: FSNetCheck, _ rule: CompiledRule, _ stop: SyscallStop, tracee: some TraceeView) -> Decision {
        switch check {
        case .pathResult:
            return .pass  // FSViewCheck's
        case .membershipResult:
            var verdict = Verdict.allow
            let view = view
            verdict.atExit = { result in
                guard result < 0 else { return [] }
                return [ResultEvent.draft(rule, name: "multicast", category: "net", errno: Int32(-result), stop: stop,
                                          decoded: nil, reason: "the isolated stack has no multicast route (loopback only)",
                                          view: view)]
            }
            return Decision(verdict: verdict)
        case .socketAddress(let unixDirectories, let exitLog):
            return socketAddress(rule, stop, tracee: tracee, unixDirectories: unixDirectories, exitLog: exitLog)
        }
    }

    private func socketAddress(_ rule: CompiledRule, _ stop: SyscallStop, tracee: some TraceeView,
                               unixDirectories: Bool, exitLog: Bool) -> Decision {
        let memory = tracee.memory(stop.tid)
        let address = SocketAddress.read(memory, at: stop.args[1], length: stop.args[2])
        let fd = JSONValue.int(Int64(Int32(truncatingIfNeeded: stop.args[0])))
        if unixDirectories, stop.name == "bind", let socketPath = address?.unixPath,
           let directories = unixSocketDirectories {
            let absolute = PathBytes.absolute(socketPath, dirfd: atCurrentDirectory, pid: stop.tgid, tracee: tracee)
            let directory = PathBytes.normalized(absolute + Array("/..".utf8))
            if !directories.contains(where: { Array($0.utf8) == directory }) {
                return .act(rule, stop, decoded: [("fd", fd)] + TraceBytes.members("path", socketPath),
                            extra: [("reason", .string("UNIX socket files only in \(directories.joined(separator: ", "))"))])
            }
        }
        guard exitLog, let view, let endpoint = address?.endpoint else { return .pass }
        let port = UInt16(truncatingIfNeeded: endpoint.port)
        var verdict = Verdict.allow
        verdict.atExit = { result in
            guard result < 0 else { return [] }
            let code = Int32(-result)
            let decoded: [(String, JSONValue)] = [("fd", fd), ("address", .string(endpoint.description))]
            if code == Errno.access, let ports = view.tcpPorts, !ports.contains(port) {
                return [ResultEvent.draft(rule, name: "tcp-port", category: "net", errno: code, stop: stop, decoded: decoded,
                                          reason: "TCP port \(port) is not allowed (\(ports.map(String.init).joined(separator: ",")))",
                                          view: view)]
            }
            if view.isolated, [Errno.addressNotAvailable, Errno.networkUnreachable, Errno.hostUnreachable].contains(code) {
                return [ResultEvent.draft(rule, name: "isolated-stack", category: "net", errno: code, stop: stop,
                                          decoded: decoded, reason: "the target's stack: IPv4 loopback only", view: view)]
            }
            return []
        }
        return Decision(verdict: verdict)
    }
}

/// connect() (or sendto(MSG_FASTOPEN)) under a `tls` rule: an IP destination mediated (every
/// one under `mediate: all`, else a TLS port) gets the rule's action (route to the broker, deny,
/// log); any other address goes on with the checked bytes pinned —
/// unless the process is alone under the tracer (one thread, no other traced process), when nothing
/// can change the address between the check and the call and the pin would only cost time.
struct TLSConnectCheck {
    let tls: TLSPolicy?
    /// Whether a broker can be started to route to.
    let canRoute: Bool
    /// Who else could write the address while the caller is stopped (the tracer's task table).
    var company = TracedCompany()

    func decide(_ rule: CompiledRule, _ stop: SyscallStop, tracee: some TraceeView) -> Decision {
        let addressArgument = rule.check == .tlsFastOpen ? 4 : 1
        let lengthArgument = addressArgument == 1 ? 2 : 5
        guard let tls, let address = SocketAddress.read(tracee.memory(stop.tid), at: stop.args[addressArgument],
                                                        length: stop.args[lengthArgument]),
              let endpoint = address.endpoint else {
            return .pass  // not an IP socket address (AF_UNIX, AF_NETLINK…) or none at all
        }
        let decoded: [(String, JSONValue)] = [
            ("fd", .int(Int64(Int32(truncatingIfNeeded: stop.args[0])))),
            ("address", .string(endpoint.description)),
            ("family", .string(address.family == SocketAddress.inet6 ? "AF_INET6" : "AF_INET")),
        ]
        var pinned = Verdict.allow
        if !company.isAlone(stop.tgid) { pinned.pin = (addressArgument, address.bytes) }
        let all = tls.mediate == .all
        guard all || tls.ports.contains(UInt16(truncatingIfNeeded: endpoint.port)) else { return Decision(verdict: pinned) }
        let destination: [(String, JSONValue)] = [("destination", .string(endpoint.description))]
        guard rule.action == .route, addressArgument == 1 else {
            let event = EventDraft(rule: rule, stop: stop, decoded: decoded, extra: destination)
            return Decision(verdict: rule.action.blocks ? .carrying(rule.action) : pinned, events: [event])
        }
        guard canRoute else {
            let event = EventDraft(rule: rule, stop: stop, decoded: decoded,
                                   extra: destination + [("outcome", .string("failed")), ("reason", .string("no broker is running"))])
            return Decision(verdict: .deny(Errno.connectionRefused), events: [event])
        }
        // The event depends on what routing finds: the executor records it (TLS/ConnectRouting).
        return Decision(verdict: Verdict(action: .route(fd: Int32(truncatingIfNeeded: stop.args[0]), destination: address,
                                                        quiet: all)),
                        events: [EventDraft(rule: rule, stop: stop, decoded: decoded, extra: destination)])
    }
}
