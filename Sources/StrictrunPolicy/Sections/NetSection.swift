#if canImport(Glibc)
import Glibc
#endif
import Yams

// The `net` section: sockets as the target offers them (families, raw sockets, socketpair,
// options, TCP ports, an isolated stack).

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
    public static let familyErrno = EAFNOSUPPORT
    public static let socketpairErrno = ENOSYS
    public static let rawErrno = EPROTONOSUPPORT
    public static let socketOptionErrno = ENOPROTOOPT
}

/// The `net` section as written.
struct NetDocument: Sendable {
    var isolated: Bool?
    var families: [NetFamily: RuleSetting] = [:]
    var passthroughFamilies: [NetFamily]?
    var socketpair: RuleSetting?
    var raw: RuleSetting?
    var tcpPorts: [UInt16]?
    var multicast: RuleSetting?
    var options: [SocketOption: RuleSetting] = [:]

    func merged(over base: NetDocument?) -> NetDocument {
        guard let base else { return self }
        var out = self
        out.isolated = isolated ?? base.isolated
        out.families = base.families.merging(families) { _, mine in mine }
        out.passthroughFamilies = passthroughFamilies ?? base.passthroughFamilies
        out.socketpair = socketpair ?? base.socketpair
        out.raw = raw ?? base.raw
        out.tcpPorts = tcpPorts ?? base.tcpPorts
        out.multicast = multicast ?? base.multicast
        out.options = base.options.merging(options) { _, mine in mine }
        return out
    }

    func resolved() -> NetPolicy {
        var families = families
        for family in passthroughFamilies ?? [] { families[family] = nil }
        return NetPolicy(isolated: isolated ?? false, families: families,
                         passthroughFamilies: passthroughFamilies ?? [], socketpair: socketpair, raw: raw,
                         tcpPorts: tcpPorts, multicast: multicast, options: options)
    }
}

extension ProfileDocumentReader {
    static let netKeys = ["stack", "families", "platform-passthrough", "socketpair", "raw", "tcp-ports",
                          "multicast", "options"]

    func readNet(_ node: Node) throws(ProfileError) -> NetDocument {
        var net = NetDocument()
        for (keyNode, value) in try nodes.mapping(node, key: "net") {
            let key = try nodes.keyName(keyNode, parent: "net")
            let path = "net.\(key)"
            switch key {
            case "stack":
                let word = try nodes.string(value, key: path)
                guard word == "isolated" || word == "host" else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "unknown value '\(word)' (expected isolated or host)")
                }
                net.isolated = word == "isolated"
            case "families":
                for (subNode, sub) in try nodes.mapping(value, key: path) {
                    let name = try nodes.keyName(subNode, parent: path)
                    guard let family = NetFamily(rawValue: name) else {
                        throw nodes.unknownKey(subNode, key: "\(path).\(name)", known: NetFamily.allCases.map(\.rawValue))
                    }
                    net.families[family] = try behaviour(sub, key: "\(path).\(name)",
                                                         defaultErrno: ProfileDefaults.familyErrno)
                }
            case "platform-passthrough":
                guard case .sequence(let items) = value else {
                    throw nodes.typeError(value, key: path, expected: "a list of families")
                }
                net.passthroughFamilies = try items.enumerated().map { (index, item) throws(ProfileError) in
                    try enumValue(item, key: "\(path)[\(index)]", NetFamily.self)
                }
            case "socketpair":
                net.socketpair = try behaviour(value, key: path, defaultErrno: ProfileDefaults.socketpairErrno)
            case "raw": net.raw = try behaviour(value, key: path, defaultErrno: ProfileDefaults.rawErrno)
            case "multicast":
                net.multicast = try behaviour(value, key: path, defaultErrno: ProfileDefaults.socketOptionErrno)
            case "tcp-ports":
                guard case .sequence(let items) = value else {
                    throw nodes.typeError(value, key: path, expected: "a list of TCP ports (0: ephemeral)")
                }
                net.tcpPorts = try items.enumerated().map { (index, item) throws(ProfileError) -> UInt16 in
                    let text = try nodes.string(item, key: "\(path)[\(index)]")
                    guard let port = UInt16(text) else {
                        throw ProfileError(at: nodes.location(item), file: file, key: "\(path)[\(index)]",
                                           "not a TCP port: '\(text)'")
                    }
                    return port
                }
            case "options":
                for (subNode, sub) in try nodes.mapping(value, key: path) {
                    let name = try nodes.keyName(subNode, parent: path)
                    guard let option = SocketOption.named(name) else {
                        throw nodes.unknownKey(subNode, key: "\(path).\(name)", known: SocketOption.table.map(\.name))
                    }
                    net.options[option] = try behaviour(sub, key: "\(path).\(name)",
                                                        defaultErrno: ProfileDefaults.socketOptionErrno)
                }
                // A whole level and one of its options would be two rules on the same call.
                for (option, _) in net.options where option.option != nil {
                    if let level = net.options.keys.first(where: { $0.option == nil && $0.level == option.level }) {
                        throw ProfileError(at: nodes.location(value), file: file, key: "\(path).\(option.name)",
                                           "overlaps '\(level.name)' (name one or the other)")
                    }
                }
            default:
                throw nodes.unknownKey(keyNode, key: path, known: Self.netKeys)
            }
        }
        return net
    }

}
