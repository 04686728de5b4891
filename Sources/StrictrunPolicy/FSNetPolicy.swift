#if canImport(Glibc)
import Glibc
#endif

/// What the program sees of the host's file tree (`fs.view`).
public enum FSView: String, Sendable, Hashable, CaseIterable {
    /// The host's tree (read-only with `image: read-only`), minus `hide`, plus the grants.
    case host
    /// Only the grants (and the program itself must be among them): a new root.
    case grantedOnly = "granted-only"
}

/// One `fs.grants` entry: a host path shown at `path`, read-only or writable.
public struct FSGrant: Sendable, Hashable {
    /// The host path (`$CWD` is the directory strictrun runs in).
    public var host: String
    /// Where the program sees it (default: the same path).
    public var path: String
    public var writable: Bool
    public var location: SourceLocation?

    public init(host: String, path: String, writable: Bool, location: SourceLocation? = nil) {
        self.host = host
        self.path = path
        self.writable = writable
        self.location = location
    }

    /// `host` and `path` with `$CWD` replaced by `cwd`.
    public func resolved(cwd: String) -> FSGrant {
        func expand(_ p: String) -> String {
            p == "$CWD" ? cwd : p.hasPrefix("$CWD/") ? cwd + p.dropFirst(4) : p
        }
        return FSGrant(host: expand(host), path: expand(path), writable: writable, location: location)
    }
}

/// A POSIX function family a target may lack (`fs.<key>`): each is `allow`, `noop` (the
/// call succeeds and does nothing), an errno, `log` or `kill`.
public enum FSFunction: String, Sendable, Hashable, CaseIterable {
    case symlink, readlink, hardlink, fifo, chmod, chown, lock, watch, memfd
}

/// The `fs` section. Absent from a profile, nothing about files is traced or changed.
public struct FSPolicy: Sendable, Hashable {
    public var view: FSView
    public var grants: [FSGrant]
    /// The host image is mounted read-only (writes fail with EROFS outside writable grants).
    public var readOnlyImage: Bool
    /// Paths that do not exist for the program (`/proc`, `/sys`, `/dev/shm`).
    public var hide: [String]
    /// Hidden or ungranted paths the runtime's own platform layer still needs: visible, and
    /// every open under them is reported (rule `platform-passthrough`).
    public var passthrough: [String]
    /// Per-function behaviour; a function not listed is allowed.
    public var functions: [FSFunction: RuleSetting]
    /// Directories where UNIX socket files may be bound; nil: anywhere.
    public var unixSocketDirectories: [String]?
    /// What a bind() of a UNIX socket file elsewhere gets.
    public var unixSocketAction: RuleSetting

    public init(view: FSView = .host, grants: [FSGrant] = [], readOnlyImage: Bool = false, hide: [String] = [],
                passthrough: [String] = [], functions: [FSFunction: RuleSetting] = [:],
                unixSocketDirectories: [String]? = nil,
                unixSocketAction: RuleSetting = RuleSetting(.deny(errno: EACCES))) {
        self.view = view
        self.grants = grants
        self.readOnlyImage = readOnlyImage
        self.hide = hide
        self.passthrough = passthrough
        self.functions = functions
        self.unixSocketDirectories = unixSocketDirectories
        self.unixSocketAction = unixSocketAction
    }

    /// Whether the section changes the program's file tree (needs a mount namespace or Landlock).
    public var changesView: Bool { view == .grantedOnly || readOnlyImage || !hide.isEmpty || !grants.isEmpty }
}

/// A socket address family the `net.families` map can name.
public enum NetFamily: String, Sendable, Hashable, CaseIterable {
    case unix, inet, inet6, netlink, packet

    /// The AF_* number (linux/socket.h).
    public var number: Int32 {
        switch self {
        case .unix: 1
        case .inet: 2
        case .inet6: 10
        case .netlink: 16
        case .packet: 17
        }
    }
}

/// A socket option the `net.options` map can name: a (level, optname) pair, or a whole level.
public struct SocketOption: Sendable, Hashable {
    public var name: String
    public var level: Int32
    /// nil: every option of the level (`ip-level`, `ipv6-level`).
    public var option: Int32?

    /// Options by profile name (values from linux/socket.h, netinet/in.h, netinet/tcp.h).
    public static let table: [SocketOption] = [
        SocketOption(name: "SO_REUSEADDR", level: 1, option: 2),
        SocketOption(name: "SO_BROADCAST", level: 1, option: 6),
        SocketOption(name: "SO_KEEPALIVE", level: 1, option: 9),
        SocketOption(name: "SO_PRIORITY", level: 1, option: 12),
        SocketOption(name: "SO_LINGER", level: 1, option: 13),
        SocketOption(name: "SO_REUSEPORT", level: 1, option: 15),
        SocketOption(name: "SO_BINDTODEVICE", level: 1, option: 25),
        SocketOption(name: "TCP_NODELAY", level: 6, option: 1),
        SocketOption(name: "TCP_KEEPIDLE", level: 6, option: 4),
        SocketOption(name: "TCP_FASTOPEN", level: 6, option: 23),
        SocketOption(name: "IP_TOS", level: 0, option: 1),
        SocketOption(name: "IP_TTL", level: 0, option: 2),
        SocketOption(name: "IP_MULTICAST_TTL", level: 0, option: 33),
        SocketOption(name: "IP_MULTICAST_LOOP", level: 0, option: 34),
        SocketOption(name: "IPV6_V6ONLY", level: 41, option: 26),
        SocketOption(name: "ip-level", level: 0, option: nil),
        SocketOption(name: "ipv6-level", level: 41, option: nil),
    ]

    /// Multicast group membership, IPv4 and IPv6 (`net.multicast`).
    public static let multicastJoins: [SocketOption] = [
        SocketOption(name: "IP_ADD_MEMBERSHIP", level: 0, option: 35),
        SocketOption(name: "IP_ADD_SOURCE_MEMBERSHIP", level: 0, option: 39),
        SocketOption(name: "MCAST_JOIN_GROUP", level: 0, option: 42),
        SocketOption(name: "MCAST_JOIN_SOURCE_GROUP", level: 0, option: 46),
        SocketOption(name: "IPV6_ADD_MEMBERSHIP", level: 41, option: 20),
        SocketOption(name: "MCAST_JOIN_GROUP", level: 41, option: 42),
        SocketOption(name: "MCAST_JOIN_SOURCE_GROUP", level: 41, option: 46),
    ]

    public static func named(_ name: String) -> SocketOption? { table.first { $0.name == name } }
}

/// The `net` section. Absent from a profile, no socket call is traced or changed.
public struct NetPolicy: Sendable, Hashable {
    /// An own network namespace: loopback only (IPv4), IPv6 off.
    public var isolated: Bool
    /// Per-family socket() behaviour; a family not listed is allowed.
    public var families: [NetFamily: RuleSetting]
    /// Families the runtime's platform layer needs: allowed, every socket() reported.
    public var passthroughFamilies: [NetFamily]
    public var socketpair: RuleSetting?
    /// socket(AF_INET/AF_INET6, SOCK_RAW).
    public var raw: RuleSetting?
    /// TCP ports the program may bind and connect to (0: an ephemeral port); nil: any.
    public var tcpPorts: [UInt16]?
    /// Joining a multicast group.
    public var multicast: RuleSetting?
    public var options: [SocketOption: RuleSetting]

    public init(isolated: Bool = false, families: [NetFamily: RuleSetting] = [:], passthroughFamilies: [NetFamily] = [],
                socketpair: RuleSetting? = nil, raw: RuleSetting? = nil, tcpPorts: [UInt16]? = nil,
                multicast: RuleSetting? = nil, options: [SocketOption: RuleSetting] = [:]) {
        self.isolated = isolated
        self.families = families
        self.passthroughFamilies = passthroughFamilies
        self.socketpair = socketpair
        self.raw = raw
        self.tcpPorts = tcpPorts
        self.multicast = multicast
        self.options = options
    }
}

extension ProfileDefaults {
    /// What an absent POSIX function answers on the documented targets (Genode, Fuchsia).
    public static let fsFunctionErrno = ENOSYS
    public static let familyErrno = EAFNOSUPPORT
    public static let socketpairErrno = ENOSYS
    public static let rawErrno = EPROTONOSUPPORT
    public static let socketOptionErrno = ENOPROTOOPT
    public static let unixSocketErrno = EACCES
}
