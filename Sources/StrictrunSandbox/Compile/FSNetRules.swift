import StrictrunPolicy

/// What the tracer decides for a call of the `fs`/`net` sections (see FSNetStops.swift).
public enum FSNetCheck: Sendable, Hashable {
    /// A call on a path whose failure may come from the view (mount namespace or Landlock),
    /// which seccomp cannot see: run it, and log an EROFS/ENOENT/EACCES the view caused, with
    /// the rule behind it; an open under a `platform-passthrough` path is reported.
    case pathResult
    /// bind/connect: a UNIX socket file outside `fs.unix-sockets` gets the rule's action; an
    /// IP address is run and a failure from the TCP-port rules (Landlock) or the isolated
    /// stack is logged.
    case socketAddress(unixDirectories: Bool, exitLog: Bool)
    /// setsockopt(join a multicast group) on the isolated stack: run, log a failure.
    case membershipResult
}

/// Syscalls of the `fs` functions (x86_64 names) and the argument conditions that pick them.
enum FSNetTables {
    /// S_IFMT and S_IFIFO (sys/stat.h).
    static let fileTypeMask: UInt64 = 0o170000
    static let fifoType: UInt64 = 0o010000
    /// fcntl commands that take or test a lock (F_GETLK…F_SETLKW, F_OFD_*).
    static let lockCommands: [UInt64] = [5, 6, 7, 36, 37, 38]

    static func syscalls(of function: FSFunction) -> [(String, [(arg: UInt32, mask: UInt64, value: UInt64)])] {
        switch function {
        case .symlink: [("symlink", []), ("symlinkat", [])]
        case .readlink: [("readlink", []), ("readlinkat", [])]
        case .hardlink: [("link", []), ("linkat", [])]
        case .fifo: [("mknod", [(1, fileTypeMask, fifoType)]), ("mknodat", [(2, fileTypeMask, fifoType)])]
        case .chmod: [("chmod", []), ("fchmod", []), ("fchmodat", []), ("fchmodat2", [])]
        case .chown: [("chown", []), ("fchown", []), ("lchown", []), ("fchownat", [])]
        case .lock: [("flock", [])] + lockCommands.map { ("fcntl", [(1, 0xffff_ffff, $0)]) }
        case .watch: [("inotify_init", []), ("inotify_init1", []), ("inotify_add_watch", []), ("fanotify_init", [])]
        case .memfd: [("memfd_create", [])]
        }
    }

    /// Calls that change mounts or the root (refused under a view: `addViewLockRules`).
    static let mountCalls = ["mount", "umount2", "mount_setattr", "move_mount", "fsopen", "fsmount", "fsconfig",
                             "fspick", "open_tree", "pivot_root", "chroot", "setns"]
    /// CLONE_NEWNS and CLONE_NEWUSER (linux/sched.h).
    static let cloneNewNS: UInt64 = 0x0002_0000
    static let cloneNewUser: UInt64 = 0x1000_0000

    /// Calls whose failure the view may cause, with the index of their path argument(s).
    static let pathCalls: [(name: String, paths: [Int])] = [
        ("open", [0]), ("creat", [0]), ("openat", [1]), ("openat2", [1]),
        ("mkdir", [0]), ("mkdirat", [1]), ("unlink", [0]), ("unlinkat", [1]), ("rmdir", [0]),
        ("rename", [0, 1]), ("renameat", [1, 3]), ("renameat2", [1, 3]), ("truncate", [0]),
        ("stat", [0]), ("lstat", [0]), ("newfstatat", [1]), ("statx", [1]),
        ("access", [0]), ("faccessat", [1]), ("faccessat2", [1]), ("chdir", [0]),
    ]
}

extension RuleListBuilder {
    /// The `fs` and `net` sections. Nothing at all when both are absent.
    mutating func addFSNetRules() {
        if let fs = profile.fs { addFSRules(fs) }
        if let net = profile.net { addNetRules(net) }
        addUnixSocketRuleWithoutNet()
        addViewLockRules()
    }

    /// The fs view and the isolated stack live in namespaces the program owns (it is root in its
    /// user namespace): unmounting /proc's cover, clearing the image's read-only flag or building a
    /// namespace of its own would undo the view. The whole mount family, chroot, setns and
    /// unshare of a mount or user namespace are refused (EPERM, `escape/mount`); the view is
    /// built before the filter is installed, so strictrun's own steps are not affected.
    mutating func addViewLockRules() {
        guard profile.fs != nil || profile.net?.isolated == true,
              let rule = register("escape", "mount", RuleSetting(.deny(errno: ProfileDefaults.escapeErrno)), .always) else { return }
        for name in FSNetTables.mountCalls where resolves(name) { add(name, rule) }
        let newNamespace = FSNetTables.cloneNewNS, newUser = FSNetTables.cloneNewUser
        add("unshare", rule, [cmp(0, mask: newNamespace, equals: newNamespace)])
        add("unshare", rule, [cmp(0, mask: newNamespace | newUser, equals: newUser)])
    }

    private mutating func addFSRules(_ fs: FSPolicy) {
        for function in FSFunction.allCases {
            guard let setting = fs.functions[function],
                  let rule = register("fs", function.rawValue, setting, .always) else { continue }
            for (name, conditions) in FSNetTables.syscalls(of: function) where resolves(name) {
                add(name, rule, conditions.map { cmp($0.arg, mask: $0.mask, equals: $0.value) })
            }
        }
        // The view's denials come from the kernel's mounts or Landlock: trace the path calls
        // to their result (none of this when the section changes nothing about the tree). The
        // opens are traced under this rule by addOpenRules (with every other open check).
        if (fs.changesView || !fs.passthrough.isEmpty) && profile.mode == .enforce,
           let rule = register("fs", "view", RuleSetting(.log), .fsNet(.pathResult)) {
            for call in FSNetTables.pathCalls where resolves(call.name) && !OpenFlags.isOpen(call.name) {
                add(call.name, rule)
            }
        }
    }

    private mutating func addNetRules(_ net: NetPolicy) {
        let sockStreamMask: UInt64 = 0xf
        let sockRaw: UInt64 = 3
        for family in NetFamily.allCases {
            let number = UInt64(family.number)
            if net.passthroughFamilies.contains(family) {
                if let rule = register("net", "platform-passthrough", RuleSetting(.log), .always) {
                    add("socket", rule, [cmp(0, mask: 0xffff_ffff, equals: number)])
                }
                continue
            }
            if let setting = net.families[family], profile.effective(setting) != .allow {
                if let rule = register("net", "family-\(family.rawValue)", setting, .always) {
                    add("socket", rule, [cmp(0, mask: 0xffff_ffff, equals: number)])
                }
                continue
            }
            if let raw = net.raw, family == .inet || family == .inet6,
               let rule = register("net", "raw", raw, .always) {
                add("socket", rule, [cmp(0, mask: 0xffff_ffff, equals: number),
                                         cmp(1, mask: sockStreamMask, equals: sockRaw)])
            }
        }
        if let setting = net.socketpair, let rule = register("net", "socketpair", setting, .always) {
            add("socketpair", rule)
        }
        for (option, setting) in net.options.sorted(by: { $0.key.name < $1.key.name }) {
            guard let rule = register("net", option.name, setting, .always) else { continue }
            var conditions = [cmp(1, mask: 0xffff_ffff, equals: UInt64(option.level))]
            if let name = option.option { conditions.append(cmp(2, mask: 0xffff_ffff, equals: UInt64(name))) }
            add("setsockopt", rule, conditions)
        }
        let wholeLevels = Set(net.options.filter { $0.key.option == nil && profile.effective($0.value) != .allow }
            .map(\.key.level))
        let joins = SocketOption.multicastJoins.filter { !wholeLevels.contains($0.level) }
        if let setting = net.multicast, let rule = register("net", "multicast", setting, .always) {
            for join in joins {
                add("setsockopt", rule, [cmp(1, mask: 0xffff_ffff, equals: UInt64(join.level)),
                                             cmp(2, mask: 0xffff_ffff, equals: UInt64(join.option!))])
            }
        } else if net.isolated, profile.mode == .enforce,
                  let rule = register("net", "multicast", RuleSetting(.log), .fsNet(.membershipResult)) {
            for join in joins {
                add("setsockopt", rule, [cmp(1, mask: 0xffff_ffff, equals: UInt64(join.level)),
                                             cmp(2, mask: 0xffff_ffff, equals: UInt64(join.option!))])
            }
        }
        // bind/connect: UNIX socket files outside their directories; failures from the port
        // rules and the isolated stack, logged at the call's exit.
        let exitLog = (net.tcpPorts != nil || net.isolated) && profile.mode == .enforce
        let unixDirectories = profile.fs?.unixSocketDirectories != nil
        let unixSetting = profile.fs?.unixSocketAction ?? RuleSetting(.allow)
        if unixDirectories || exitLog {
            let setting = unixDirectories && profile.effective(unixSetting) != .allow ? unixSetting : RuleSetting(.log)
            if let rule = register("fs", "unix-socket-path", setting,
                                   .fsNet(.socketAddress(unixDirectories: unixDirectories, exitLog: exitLog))) {
                add("bind", rule)
                if exitLog && profile.tls == nil { add("connect", rule) }
            }
        }
    }
}

extension RuleListBuilder {
    /// `fs.unix-sockets` without a `net` section still needs its bind rule.
    mutating func addUnixSocketRuleWithoutNet() {
        guard profile.net == nil, let fs = profile.fs, fs.unixSocketDirectories != nil,
              profile.effective(fs.unixSocketAction) != .allow,
              let rule = register("fs", "unix-socket-path", fs.unixSocketAction,
                                  .fsNet(.socketAddress(unixDirectories: true, exitLog: false))) else { return }
        add("bind", rule)
    }
}
