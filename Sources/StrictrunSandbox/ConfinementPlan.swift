#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims
import Foundation
import StrictrunPolicy

/// How the `fs` view and the `net` stack were put in place for one run.
public enum ConfinementMechanism: String, Sendable {
    /// User + mount (+ network) namespaces: hidden and ungranted paths do not exist (ENOENT),
    /// the image is a read-only mount (EROFS).
    case namespaces
    /// No user namespace here: Landlock rules instead, so the same paths fail with EACCES.
    case landlock
    /// The profile changes nothing about files or the network stack.
    case none
}

/// What the tracer needs to know to name the rule behind a failure the view caused.
public struct ConfinementView: Sendable {
    public var mechanism: ConfinementMechanism
    public var hidden: [String]
    /// Grants with `$CWD` resolved.
    public var grants: [FSGrant]
    public var grantedOnly: Bool
    public var readOnlyImage: Bool
    public var passthrough: [String]
    /// The network stack is the program's own (a network namespace).
    public var isolated: Bool
    /// TCP ports the Landlock rules allow, nil when any.
    public var tcpPorts: [UInt16]?
}

/// The child's confinement steps, planned in the parent (nsjail's way: prepare here, apply
/// there): the C child path only runs them (`strictrun_confine`). Also the lines the run
/// summary shows about how the view was built.
struct ConfinementPlan {
    enum Step {
        case unshare(Int32)
        case writeFile(String, String)
        case loopbackUp
        case mount(source: String?, target: String, type: String?, flags: UInt, data: String?)
        case cloneTree(String, slot: Int32)
        case moveTree(slot: Int32, to: String)
        case setReadOnly(String, recursive: Bool)
        case mkdirs(String)
        case mkfile(String)
        case pivotRoot(String)
        case chdir(String)
        case landlockCreate(fs: Bool, net: Bool)
        case landlockPath(String, writable: Bool)
        case landlockPort(UInt16)
        case landlockRestrict
    }

    var steps: [(step: Step, optional: Bool, what: String)] = []
    /// For the summary and the `start` line: what was applied, and every fallback.
    var notes: [String] = []
    var view: ConfinementView?

    /// Environment switch for tests and for machines where namespaces misbehave: `landlock`
    /// plans the Landlock fallback even where user namespaces work.
    static let fallbackVariable = "STRICTRUN_FS_FALLBACK"

    /// Devices a program opens for writing even on a read-only image (a device node on a
    /// read-only mount stays writable; Landlock must be told).
    static let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
                          "/dev/ptmx", "/dev/pts"]

    static func make(profile: Profile, cwd: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> ConfinementPlan {
        var plan = ConfinementPlan()
        let fs = profile.fs
        let net = profile.net
        let wantsView = fs?.changesView ?? false
        let wantsStack = net?.isolated ?? false
        let ports = net?.tcpPorts
        guard wantsView || wantsStack || ports != nil else { return plan }
        if profile.mode == .audit {
            plan.notes.append("audit mode: the fs view, isolated stack and TCP-port rules are not applied")
            return plan
        }
        let grants = (fs?.grants ?? []).map { $0.resolved(cwd: cwd) }
        var mechanism: ConfinementMechanism = .none
        let forced = environment[fallbackVariable] == "landlock"
        var namespaceFlags: Int32 = 0
        if wantsView || wantsStack {
            namespaceFlags = strictrun_namespace_flags(wantsStack ? 1 : 0)
            if forced {
                plan.notes.append("\(fallbackVariable)=landlock: namespaces not used")
            } else if strictrun_probe_userns(namespaceFlags) != 0 {
                plan.notes.append("no user namespaces here (unshare: \(String(cString: strerror(errno))))")
            } else {
                mechanism = .namespaces
            }
        }
        if mechanism == .namespaces {
            plan.addNamespaces(flags: namespaceFlags, fs: fs, net: net, grants: grants, cwd: cwd)
        } else if wantsView {
            mechanism = .landlock
        }
        if wantsStack && mechanism != .namespaces {
            plan.notes.append("net: the stack is NOT isolated (no network namespace): host interfaces stay visible")
        }
        let landlockFS = mechanism == .landlock && wantsView
        if landlockFS || ports != nil {
            let abi = strictrun_landlock_abi()
            if abi < (ports != nil ? 4 : 1) {
                plan.notes.append("Landlock ABI \(abi) here: \(ports != nil ? "TCP-port rules" : "the fs view") not applied")
            } else {
                plan.addLandlock(fs: landlockFS ? fs : nil, grants: grants, ports: ports)
                plan.notes.append("Landlock ABI \(abi): " + [landlockFS ? "fs view (EACCES instead of ENOENT/EROFS)" : nil,
                                                            ports.map { "TCP ports \($0.map(String.init).joined(separator: ","))" }]
                    .compactMap { $0 }.joined(separator: "; "))
            }
        }
        if mechanism == .namespaces {
            var what = ["user+mount\(wantsStack ? "+network" : "") namespaces"]
            if let fs {
                what.append("view \(fs.view.rawValue)")
                if fs.readOnlyImage { what.append("image read-only") }
                if !fs.hide.isEmpty { what.append("hidden \(fs.hide.joined(separator: " "))") }
            }
            if wantsStack { what.append("loopback only, IPv6 off") }
            plan.notes.insert(what.joined(separator: ", "), at: 0)
        }
        plan.view = ConfinementView(mechanism: mechanism, hidden: fs?.hide ?? [], grants: grants,
                                    grantedOnly: fs?.view == .grantedOnly, readOnlyImage: fs?.readOnlyImage ?? false,
                                    passthrough: fs?.passthrough ?? [], isolated: wantsStack && mechanism == .namespaces,
                                    tcpPorts: ports)
        return plan
    }

    // MARK: namespaces

    private mutating func add(_ step: Step, _ what: String, optional: Bool = false) {
        steps.append((step, optional, what))
    }

    private mutating func addNamespaces(flags: Int32, fs: FSPolicy?, net: NetPolicy?, grants: [FSGrant], cwd: String) {
        add(.unshare(flags), "unshare user+mount namespaces")
        // Same ids inside as outside: files keep their owners, the program its uid.
        add(.writeFile("/proc/self/setgroups", "deny"), "write /proc/self/setgroups")
        add(.writeFile("/proc/self/uid_map", "\(getuid()) \(getuid()) 1\n"), "write /proc/self/uid_map")
        add(.writeFile("/proc/self/gid_map", "\(getgid()) \(getgid()) 1\n"), "write /proc/self/gid_map")
        if net?.isolated == true {
            add(.loopbackUp, "bring up lo in the new network namespace")
            for scope in ["all", "default", "lo"] {
                add(.writeFile("/proc/sys/net/ipv6/conf/\(scope)/disable_ipv6", "1"),
                    "disable IPv6 (\(scope))", optional: true)
            }
        }
        guard let fs, fs.changesView else { return }
        add(.mount(source: nil, target: "/", type: nil, flags: UInt(MS_REC | MS_PRIVATE), data: nil),
            "make / private")
        // Detached copies of every grant (and passthrough path) first: hiding, read-only and
        // the new root come after, and do not touch them.
        let isDirectory = { (path: String) -> Bool in
            var dir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
        }
        var sources: [(host: String, seen: String, writable: Bool, slot: Int32)] = []
        let passthrough = fs.passthrough.filter { path in
            fs.view == .grantedOnly || fs.hide.contains { PathRules.isWithin(path, $0) }
        }
        for (index, item) in (grants.map { ($0.host, $0.path, $0.writable) } + passthrough.map { ($0, $0, false) })
            .enumerated() where index < Int(STRICTRUN_CONFINE_SLOTS) {
            guard FileManager.default.fileExists(atPath: item.0) else {
                notes.append("grant \(item.0): no such host path, skipped")
                continue
            }
            add(.cloneTree(item.0, slot: Int32(index)), "clone \(item.0)")
            sources.append((item.0, item.1, item.2, Int32(index)))
        }
        let tmpfsFlags = UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)
        var root = ""
        if fs.view == .grantedOnly {
            // A new root on a tmpfs (staged over /tmp in this namespace), holding the grants only.
            root = "/tmp"
            add(.mount(source: "strictrun-view", target: root, type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV),
                       data: "mode=0755"), "mount the view's tmpfs")
        } else {
            if fs.readOnlyImage { add(.setReadOnly("/", recursive: true), "make the image read-only") }
            for path in fs.hide where FileManager.default.fileExists(atPath: path) {
                add(.mount(source: "strictrun-hidden", target: path, type: "tmpfs", flags: tmpfsFlags, data: "mode=0755"),
                    "hide \(path)")
            }
        }
        for source in sources {
            let target = root + source.seen
            let underHidden = fs.hide.contains { PathRules.isWithin(source.seen, $0) }
            if fs.view == .grantedOnly || underHidden || !FileManager.default.fileExists(atPath: source.seen) {
                if isDirectory(source.host) {
                    add(.mkdirs(target), "create mount point \(source.seen)")
                } else {
                    add(.mkdirs((target as NSString).deletingLastPathComponent), "create \(source.seen)'s directory")
                    add(.mkfile(target), "create mount point \(source.seen)")
                }
            }
            add(.moveTree(slot: source.slot, to: target), "mount \(source.host) at \(source.seen)")
            if !source.writable { add(.setReadOnly(target, recursive: true), "make \(source.seen) read-only") }
        }
        if fs.view == .grantedOnly {
            add(.pivotRoot(root), "enter the granted view (pivot_root)")
            add(.setReadOnly("/", recursive: false), "make the view's root read-only")
            let seenCwd = grants.first { PathRules.isWithin(cwd, $0.host) }
                .map { $0.path + cwd.dropFirst($0.host.count) } ?? "/"
            if seenCwd == "/" { notes.append("the working directory \(cwd) is not granted: the program starts in /") }
            add(.chdir(seenCwd), "enter the working directory")
        } else {
            for path in fs.hide where FileManager.default.fileExists(atPath: path) {
                add(.mount(source: nil, target: path, type: nil, flags: UInt(MS_REMOUNT | MS_RDONLY) | tmpfsFlags,
                           data: nil), "make hidden \(path) read-only")
            }
            // The working directory may now be a grant mounted over it.
            add(.chdir(cwd), "re-enter the working directory", optional: true)
        }
    }

    // MARK: Landlock

    private mutating func addLandlock(fs: FSPolicy?, grants: [FSGrant], ports: [UInt16]?) {
        add(.landlockCreate(fs: fs != nil, net: ports != nil), "landlock_create_ruleset")
        if let fs {
            var readable: [String] = fs.view == .grantedOnly ? [] : PathRules.visibleRoots(hiding: fs.hide)
            readable += fs.passthrough
            for path in readable {
                add(.landlockPath(path, writable: fs.view == .host && !fs.readOnlyImage), "landlock rule \(path)",
                    optional: true)
            }
            for grant in grants {
                if grant.host != grant.path {
                    notes.append("Landlock cannot show \(grant.host) at \(grant.path): granted at its host path")
                }
                add(.landlockPath(grant.host, writable: grant.writable), "landlock rule \(grant.host)", optional: true)
            }
            for device in Self.devices {
                add(.landlockPath(device, writable: true), "landlock rule \(device)", optional: true)
            }
        }
        for port in ports ?? [] { add(.landlockPort(port), "landlock TCP port \(port)") }
        add(.landlockRestrict, "landlock_restrict_self")
    }

    // MARK: to C

    /// Runs `body` with the steps as C structs (strings live until `body` returns).
    func withCSteps<R>(_ body: (UnsafePointer<strictrun_confine_op>?, Int32) -> R) -> R {
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { free($0) } }
        func c(_ text: String?) -> UnsafePointer<CChar>? {
            guard let text, let copy = strdup(text) else { return nil }
            strings.append(copy)
            return UnsafePointer(copy)
        }
        let ops: [strictrun_confine_op] = steps.map { entry in
            var op = strictrun_confine_op()
            op.optional = entry.optional ? 1 : 0
            switch entry.step {
            case .unshare(let flags): op.op = Int32(STRICTRUN_OP_UNSHARE); op.flags = UInt(flags)
            case .writeFile(let path, let text): op.op = Int32(STRICTRUN_OP_WRITE_FILE); op.path = c(path); op.data = c(text)
            case .loopbackUp: op.op = Int32(STRICTRUN_OP_LOOPBACK_UP)
            case .mount(let source, let target, let type, let flags, let data):
                op.op = Int32(STRICTRUN_OP_MOUNT); op.source = c(source); op.path = c(target); op.data2 = c(type)
                op.flags = flags; op.data = c(data)
            case .cloneTree(let source, let slot): op.op = Int32(STRICTRUN_OP_CLONE_TREE); op.source = c(source); op.slot = slot
            case .moveTree(let slot, let target): op.op = Int32(STRICTRUN_OP_MOVE_TREE); op.slot = slot; op.path = c(target)
            case .setReadOnly(let path, let recursive):
                op.op = Int32(STRICTRUN_OP_SET_READONLY); op.path = c(path); op.flags = recursive ? 1 : 0
            case .mkdirs(let path): op.op = Int32(STRICTRUN_OP_MKDIRS); op.path = c(path)
            case .mkfile(let path): op.op = Int32(STRICTRUN_OP_MKFILE); op.path = c(path)
            case .pivotRoot(let path): op.op = Int32(STRICTRUN_OP_PIVOT_ROOT); op.path = c(path)
            case .chdir(let path): op.op = Int32(STRICTRUN_OP_CHDIR); op.path = c(path)
            case .landlockCreate(let fs, let net):
                op.op = Int32(STRICTRUN_OP_LANDLOCK_CREATE); op.value = fs ? 1 : 0; op.flags = net ? 1 : 0
            case .landlockPath(let path, let writable):
                op.op = Int32(STRICTRUN_OP_LANDLOCK_PATH); op.path = c(path); op.value = writable ? 1 : 0
            case .landlockPort(let port): op.op = Int32(STRICTRUN_OP_LANDLOCK_PORT); op.value = UInt64(port)
            case .landlockRestrict: op.op = Int32(STRICTRUN_OP_LANDLOCK_RESTRICT)
            }
            return op
        }
        return ops.withUnsafeBufferPointer { body($0.baseAddress, Int32($0.count)) }
    }
}

/// Path arithmetic for the view (no file access except `visibleRoots`).
enum PathRules {
    /// Whether `path` is `base` or below it.
    static func isWithin(_ path: String, _ base: String) -> Bool {
        base == "/" || path == base || path.hasPrefix(base + "/")
    }

    /// The fewest directories that cover `/` except the hidden paths: each hidden path's
    /// ancestors are replaced by their other children (Landlock allows by subtree).
    static func visibleRoots(hiding hidden: [String]) -> [String] {
        var roots = ["/"]
        for path in hidden {
            while let index = roots.firstIndex(where: { isWithin(path, $0) && $0 != path }) {
                let parent = roots.remove(at: index)
                let children = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
                for child in children.sorted() {
                    let full = parent == "/" ? "/" + child : parent + "/" + child
                    if hidden.contains(full) { continue }
                    // Symlinks are reached through their targets, which keep their own rules.
                    if (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) != nil { continue }
                    roots.append(full)
                }
            }
            roots.removeAll { $0 == path }
        }
        return roots
    }
}
