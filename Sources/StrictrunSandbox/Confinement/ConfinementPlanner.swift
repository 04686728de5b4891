#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrictrunPolicy
import StrictrunSystem

/// Plans a run's confinement from the profile and the host's capabilities, as pure code:
/// no probing (see `HostCapabilities`), no environment, the file tree read through
/// `host.files`. The plan's steps are carried out by the C child path.
enum ConfinementPlanner {
    /// Devices a program opens for writing even on a read-only image (a device node on a
    /// read-only mount stays writable; Landlock must be told).
    static let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
                          "/dev/ptmx", "/dev/pts"]

    /// What the profile wants of the host.
    struct Wants {
        var view: Bool
        var stack: Bool
        var ports: [UInt16]?
        var any: Bool { view || stack || ports != nil }

        init(_ profile: Profile) {
            view = profile.fs?.changesView ?? false
            stack = profile.net?.isolated ?? false
            ports = profile.net?.tcpPorts
        }
    }

    /// What `plan` will read of the host for `profile` (probing user namespaces forks).
    static func probeRequest(profile: Profile, fallback: ConfinementFallback) -> HostCapabilities.ProbeRequest {
        let wants = Wants(profile)
        guard wants.any, profile.mode != .audit else { return .nothing }
        let tryNamespaces = (wants.view || wants.stack) && fallback != .landlock
        return HostCapabilities.ProbeRequest(
            namespaceFlags: tryNamespaces ? HostCapabilities.namespaceFlags(network: wants.stack) : nil,
            landlock: true)
    }

    /// The steps and notes for `profile`, run in `cwd`, on `host`.
    static func plan(profile: Profile, cwd: String, host: HostCapabilities,
                     fallback: ConfinementFallback) -> ConfinementPlan {
        var plan = ConfinementPlan()
        let fs = profile.fs
        let net = profile.net
        let wants = Wants(profile)
        guard wants.any else { return plan }
        if profile.mode == .audit {
            plan.notes.append("audit mode: the fs view, isolated stack and TCP-port rules are not applied")
            return plan
        }
        let grants = (fs?.grants ?? []).map { $0.resolved(cwd: cwd) }
        var mechanism: ConfinementMechanism = .none
        if wants.view || wants.stack {
            if fallback == .landlock {
                plan.notes.append("\(ConfinementFallback.environmentVariable)=landlock: namespaces not used")
            } else if case .unavailable(let reason) = host.userNamespaces {
                plan.notes.append("no user namespaces here (unshare: \(reason))")
            } else {
                mechanism = .namespaces
            }
        }
        if mechanism == .namespaces {
            addNamespaces(to: &plan, flags: HostCapabilities.namespaceFlags(network: wants.stack), fs: fs, net: net,
                          grants: grants, cwd: cwd, host: host)
        } else if wants.view {
            mechanism = .landlock
        }
        if wants.stack && mechanism != .namespaces {
            plan.notes.append("net: the stack is NOT isolated (no network namespace): host interfaces stay visible")
        }
        let ports = wants.ports
        let landlockFS = mechanism == .landlock && wants.view
        if landlockFS || ports != nil {
            let abi = host.landlockABI
            if abi < (ports != nil ? 4 : 1) {
                plan.notes.append("Landlock ABI \(abi) here: \(ports != nil ? "TCP-port rules" : "the fs view") not applied")
            } else {
                addLandlock(to: &plan, fs: landlockFS ? fs : nil, grants: grants, ports: ports, files: host.files)
                plan.notes.append("Landlock ABI \(abi): " + [landlockFS ? "fs view (EACCES instead of ENOENT/EROFS)" : nil,
                                                            ports.map { "TCP ports \($0.map(String.init).joined(separator: ","))" }]
                    .compactMap { $0 }.joined(separator: "; "))
            }
        }
        if mechanism == .namespaces {
            var what = ["user+mount\(wants.stack ? "+network" : "") namespaces"]
            if let fs {
                what.append("view \(fs.view.rawValue)")
                if fs.readOnlyImage { what.append("image read-only") }
                if !fs.hide.isEmpty { what.append("hidden \(fs.hide.joined(separator: " "))") }
            }
            if wants.stack { what.append("loopback only, IPv6 off") }
            plan.notes.insert(what.joined(separator: ", "), at: 0)
        }
        plan.view = ConfinementView(mechanism: mechanism, hidden: fs?.hide ?? [], grants: grants,
                                    grantedOnly: fs?.view == .grantedOnly, readOnlyImage: fs?.readOnlyImage ?? false,
                                    passthrough: fs?.passthrough ?? [],
                                    isolated: wants.stack && mechanism == .namespaces, tcpPorts: ports)
        return plan
    }

    // MARK: namespaces

    private static func addNamespaces(to plan: inout ConfinementPlan, flags: Int32, fs: FSPolicy?, net: NetPolicy?,
                                      grants: [FSGrant], cwd: String, host: HostCapabilities) {
        plan.add(.unshare(flags), "unshare user+mount namespaces")
        // Same ids inside as outside: files keep their owners, the program its uid.
        plan.add(.writeFile("/proc/self/setgroups", "deny"), "write /proc/self/setgroups")
        plan.add(.writeFile("/proc/self/uid_map", "\(host.uid) \(host.uid) 1\n"), "write /proc/self/uid_map")
        plan.add(.writeFile("/proc/self/gid_map", "\(host.gid) \(host.gid) 1\n"), "write /proc/self/gid_map")
        if net?.isolated == true {
            plan.add(.loopbackUp, "bring up lo in the new network namespace")
            for scope in ["all", "default", "lo"] {
                plan.add(.writeFile("/proc/sys/net/ipv6/conf/\(scope)/disable_ipv6", "1"),
                         "disable IPv6 (\(scope))", optional: true)
            }
        }
        guard let fs, fs.changesView else { return }
        let files = host.files
        plan.add(.mount(source: nil, target: "/", type: nil, flags: UInt(MS_REC | MS_PRIVATE), data: nil),
                 "make / private")
        // Detached copies of every grant (and passthrough path) first: hiding, read-only and
        // the new root come after, and do not touch them.
        var sources: [(host: String, seen: String, writable: Bool, slot: Int32)] = []
        let passthrough = fs.passthrough.filter { path in
            fs.view == .grantedOnly || fs.hide.contains { PathRules.isWithin(path, $0) }
        }
        for (index, item) in (grants.map { ($0.host, $0.path, $0.writable) } + passthrough.map { ($0, $0, false) })
            .enumerated() where index < ChildLauncher.treeSlots {
            guard files.exists(item.0) else {
                plan.notes.append("grant \(item.0): no such host path, skipped")
                continue
            }
            plan.add(.cloneTree(item.0, slot: Int32(index)), "clone \(item.0)")
            sources.append((item.0, item.1, item.2, Int32(index)))
        }
        let tmpfsFlags = UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)
        var root = ""
        if fs.view == .grantedOnly {
            // A new root on a tmpfs (staged over /tmp in this namespace), holding the grants only.
            root = "/tmp"
            plan.add(.mount(source: "strictrun-view", target: root, type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV),
                            data: "mode=0755"), "mount the view's tmpfs")
        } else {
            if fs.readOnlyImage { plan.add(.setReadOnly("/", recursive: true), "make the image read-only") }
            for path in fs.hide where files.exists(path) {
                plan.add(.mount(source: "strictrun-hidden", target: path, type: "tmpfs", flags: tmpfsFlags,
                                data: "mode=0755"), "hide \(path)")
            }
        }
        for source in sources {
            let target = root + source.seen
            let underHidden = fs.hide.contains { PathRules.isWithin(source.seen, $0) }
            if fs.view == .grantedOnly || underHidden || !files.exists(source.seen) {
                if files.isDirectory(source.host) {
                    plan.add(.mkdirs(target), "create mount point \(source.seen)")
                } else {
                    plan.add(.mkdirs((target as NSString).deletingLastPathComponent), "create \(source.seen)'s directory")
                    plan.add(.mkfile(target), "create mount point \(source.seen)")
                }
            }
            plan.add(.moveTree(slot: source.slot, to: target), "mount \(source.host) at \(source.seen)")
            if !source.writable { plan.add(.setReadOnly(target, recursive: true), "make \(source.seen) read-only") }
        }
        if fs.view == .grantedOnly {
            plan.add(.pivotRoot(root), "enter the granted view (pivot_root)")
            plan.add(.setReadOnly("/", recursive: false), "make the view's root read-only")
            let seenCwd = grants.first { PathRules.isWithin(cwd, $0.host) }
                .map { $0.path + cwd.dropFirst($0.host.count) } ?? "/"
            if seenCwd == "/" { plan.notes.append("the working directory \(cwd) is not granted: the program starts in /") }
            plan.add(.chdir(seenCwd), "enter the working directory")
        } else {
            for path in fs.hide where files.exists(path) {
                plan.add(.mount(source: nil, target: path, type: nil, flags: UInt(MS_REMOUNT | MS_RDONLY) | tmpfsFlags,
                                data: nil), "make hidden \(path) read-only")
            }
            // The working directory may now be a grant mounted over it.
            plan.add(.chdir(cwd), "re-enter the working directory", optional: true)
        }
    }

    // MARK: Landlock

    private static func addLandlock(to plan: inout ConfinementPlan, fs: FSPolicy?, grants: [FSGrant],
                                    ports: [UInt16]?, files: HostFiles) {
        plan.add(.landlockCreate(fs: fs != nil, net: ports != nil), "landlock_create_ruleset")
        if let fs {
            var readable: [String] = fs.view == .grantedOnly ? [] : PathRules.visibleRoots(hiding: fs.hide, files: files)
            readable += fs.passthrough
            for path in readable {
                plan.add(.landlockPath(path, writable: fs.view == .host && !fs.readOnlyImage), "landlock rule \(path)",
                         optional: true)
            }
            for grant in grants {
                if grant.host != grant.path {
                    plan.notes.append("Landlock cannot show \(grant.host) at \(grant.path): granted at its host path")
                }
                plan.add(.landlockPath(grant.host, writable: grant.writable), "landlock rule \(grant.host)",
                         optional: true)
            }
            for device in devices {
                plan.add(.landlockPath(device, writable: true), "landlock rule \(device)", optional: true)
            }
        }
        for port in ports ?? [] { plan.add(.landlockPort(port), "landlock TCP port \(port)") }
        plan.add(.landlockRestrict, "landlock_restrict_self")
    }
}
