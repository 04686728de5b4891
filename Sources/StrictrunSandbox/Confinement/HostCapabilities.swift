#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrictrunSystem

/// What this host offers for confinement: user namespaces, the Landlock ABI, the ids the
/// program runs with, and the file tree the plan is made against. `probe` is the only code
/// that asks the kernel (through the C shim); the planner (`ConfinementPlanner`) only reads
/// the values, so tests give it synthetic hosts.
public struct HostCapabilities: Sendable {
    /// Whether `unshare` of the namespaces a plan needs works here.
    public enum UserNamespaces: Sendable, Hashable {
        case available
        /// The reason unshare failed (strerror), or why it was not tried.
        case unavailable(reason: String)
    }

    public var userNamespaces: UserNamespaces
    /// `landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION)`: 0 or less without Landlock.
    public var landlockABI: Int32
    /// The ids mapped into the user namespace (the same inside as outside).
    public var uid: UInt32
    public var gid: UInt32
    /// The host's file tree, as far as planning looks at it.
    public var files: HostFiles

    public init(userNamespaces: UserNamespaces, landlockABI: Int32, uid: UInt32 = 0, gid: UInt32 = 0,
                files: HostFiles = .live) {
        self.userNamespaces = userNamespaces
        self.landlockABI = landlockABI
        self.uid = uid
        self.gid = gid
        self.files = files
    }

    /// What a plan needs probed (probing user namespaces forks a child: only when needed).
    public struct ProbeRequest: Sendable, Hashable {
        /// The `unshare` flags to try (`HostProbe.namespaceFlags`); nil: do not try.
        public var namespaceFlags: Int32?
        /// Ask for the Landlock ABI.
        public var landlock: Bool

        public init(namespaceFlags: Int32?, landlock: Bool) {
            self.namespaceFlags = namespaceFlags
            self.landlock = landlock
        }

        /// Nothing to probe.
        public static let nothing = ProbeRequest(namespaceFlags: nil, landlock: false)
    }

    /// Probe the running kernel (`HostProbe`: a child that tries `unshare`, the Landlock ABI),
    /// getuid/getgid.
    public static func probe(_ request: ProbeRequest) -> HostCapabilities {
        var userNamespaces = UserNamespaces.unavailable(reason: "not probed")
        if let flags = request.namespaceFlags {
            userNamespaces = HostProbe.unshare(flags).map { .unavailable(reason: SystemError.text($0)) } ?? .available
        }
        return HostCapabilities(userNamespaces: userNamespaces,
                                landlockABI: request.landlock ? HostProbe.landlockABI() : 0,
                                uid: getuid(), gid: getgid(), files: .live)
    }

    /// The `unshare` flags for user + mount namespaces, plus a network namespace when
    /// `network` (`HostProbe.namespaceFlags`: CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET).
    public static func namespaceFlags(network: Bool) -> Int32 { HostProbe.namespaceFlags(network: network) }
}

/// The host's file tree as the planner sees it: which paths exist, which are directories,
/// which are symlinks, and a directory's entries. `live` asks the file system; tests use
/// `synthetic`.
public struct HostFiles: Sendable {
    public var exists: @Sendable (String) -> Bool
    public var isDirectory: @Sendable (String) -> Bool
    public var isSymlink: @Sendable (String) -> Bool
    /// A directory's entry names (unsorted is fine), empty when unreadable.
    public var children: @Sendable (String) -> [String]

    public init(exists: @escaping @Sendable (String) -> Bool, isDirectory: @escaping @Sendable (String) -> Bool,
                isSymlink: @escaping @Sendable (String) -> Bool, children: @escaping @Sendable (String) -> [String]) {
        self.exists = exists
        self.isDirectory = isDirectory
        self.isSymlink = isSymlink
        self.children = children
    }

    /// The real file system (FileManager).
    public static let live = HostFiles(
        exists: { FileManager.default.fileExists(atPath: $0) },
        isDirectory: { path in
            var dir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
        },
        isSymlink: { (try? FileManager.default.destinationOfSymbolicLink(atPath: $0)) != nil },
        children: { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] })

    /// A tree of the given directories and files (every ancestor of each is a directory).
    public static func synthetic(directories: [String], files: [String] = [],
                                 symlinks: [String] = []) -> HostFiles {
        var dirs = Set(directories + ["/"])
        for path in directories + files + symlinks {
            var parent = (path as NSString).deletingLastPathComponent
            while !parent.isEmpty && parent != "/" {
                dirs.insert(parent)
                parent = (parent as NSString).deletingLastPathComponent
            }
        }
        let all = dirs.union(files).union(symlinks)
        let links = Set(symlinks)
        let directoriesFound = dirs
        return HostFiles(
            exists: { all.contains($0) },
            isDirectory: { directoriesFound.contains($0) },
            isSymlink: { links.contains($0) },
            children: { dir in
                all.filter { $0 != "/" && ($0 as NSString).deletingLastPathComponent == dir }
                    .map { ($0 as NSString).lastPathComponent }
            })
    }
}
