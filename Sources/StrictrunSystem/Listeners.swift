#if canImport(Glibc)
import Glibc
#endif

/// Whether a TCP listener exists for a loopback destination, asked of the kernel with one
/// sock_diag dump of listening sockets (NETLINK_SOCK_DIAG, `inet_diag_req_v2`, states =
/// LISTEN), in strictrun's network namespace. No connection is made: a server never sees the
/// question. Used before a connect is routed to the TLS broker: with nothing listening the
/// program's own connect runs and gets the kernel's own ECONNREFUSED, at once, as it would
/// without strictrun (a routed connect would succeed toward the broker and be reset later).
public enum Listeners {
    /// The listener serving `destination` (its socket inode), `.none` when nothing listens there;
    /// nil when the kernel could not be asked (no sock_diag: route as before).
    public static func find(for destination: SocketEndpoint) -> Found? {
        guard var target = IPAddressBytes(destination.ip) else { return nil }
        if target.isMappedIPv4 { target.bytes = Array(target.bytes.suffix(4)) }
        let port = UInt16(truncatingIfNeeded: destination.port)
        // An IPv4 destination is served by AF_INET listeners and by dual-stack AF_INET6 ones.
        let families = target.isIPv4 ? [AF_INET, AF_INET6] : [AF_INET6]
        var answered = false
        for family in families {
            guard let listeners = dump(family: Int32(family)) else { continue }
            answered = true
            if let listener = listeners.first(where: { $0.port == port && $0.serves(target) }) {
                return .listening(inode: listener.inode)
            }
        }
        return answered ? Found.none : nil
    }

    /// What `find(for:)` learnt.
    public enum Found: Sendable, Hashable {
        case none
        /// A listening socket, by its inode (`socket:[INODE]` in its owner's /proc/PID/fd).
        case listening(inode: UInt64)
    }

    /// One listening socket: its port and bound address (16 bytes; IPv4 in the first 4).
    struct Listener {
        var family: Int32
        var port: UInt16
        var address: [UInt8]
        var inode: UInt64

        func serves(_ target: IPAddressBytes) -> Bool {
            let wildcard = address.allSatisfy { $0 == 0 }
            if target.isIPv4 {
                if family == AF_INET { return wildcard || Array(address.prefix(4)) == target.bytes }
                // [::] (dual-stack unless IPV6_V6ONLY, which this dump does not tell) or ::ffff:a.b.c.d.
                return wildcard || address == [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + target.bytes
            }
            return wildcard || address == target.bytes
        }
    }

    private static let sockDiagByFamily: UInt16 = 20
    private static let listenState: UInt32 = 1 << 10  // TCP_LISTEN

    /// The listening TCP sockets of one family; nil when the dump failed.
    static func dump(family: Int32) -> [Listener]? {
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 4 /* NETLINK_SOCK_DIAG */)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // nlmsghdr (16) + inet_diag_req_v2 (56).
        var request = [UInt8](repeating: 0, count: 72)
        put32(&request, 0, 72)
        put16(&request, 4, sockDiagByFamily)
        put16(&request, 6, 0x1 | 0x300)  // NLM_F_REQUEST | NLM_F_DUMP
        put32(&request, 8, 1)
        request[16] = UInt8(family)
        request[17] = UInt8(IPPROTO_TCP)
        put32(&request, 20, listenState)
        // Unconnected, a netlink socket sends to the kernel (port id 0).
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == request.count else { return nil }
        var listeners: [Listener] = []
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            var offset = 0
            while offset + 16 <= count {
                let length = Int(get32(buffer, offset))
                let type = get16(buffer, offset + 4)
                guard length >= 16, offset + length <= count else { return nil }
                switch type {
                case 3: return listeners        // NLMSG_DONE
                case 2: return nil              // NLMSG_ERROR
                case sockDiagByFamily where length >= 16 + 72:
                    // inet_diag_msg: family, state, timer, retrans, then inet_diag_sockid
                    // (sport and dport big-endian, src[16], dst[16], if, cookie), expires,
                    // rqueue, wqueue, uid, inode.
                    let body = offset + 16
                    let port = UInt16(buffer[body + 4]) << 8 | UInt16(buffer[body + 5])
                    listeners.append(Listener(family: Int32(buffer[body]), port: port,
                                              address: Array(buffer[(body + 8)..<(body + 24)]),
                                              inode: UInt64(get32(buffer, body + 68))))
                default:
                    break
                }
                offset += (length + 3) & ~3
            }
        }
    }

    private static func put16(_ bytes: inout [UInt8], _ at: Int, _ value: UInt16) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(at..<(at + 2), with: $0) }
    }

    private static func put32(_ bytes: inout [UInt8], _ at: Int, _ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(at..<(at + 4), with: $0) }
    }

    private static func get16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }

    private static func get32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}

/// An IP address as its network-order bytes (4 or 16), from the text `SocketEndpoint` carries.
public struct IPAddressBytes: Sendable, Hashable {
    public var bytes: [UInt8]
    public var isIPv4: Bool { bytes.count == 4 }

    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        bytes = withUnsafeBytes(of: v6) { Array($0) }
    }

    /// ::ffff:a.b.c.d (an IPv4 address on an AF_INET6 socket).
    public var isMappedIPv4: Bool { bytes.count == 16 && bytes.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) }

    /// 127.0.0.0/8, ::1, or ::ffff:127.x.y.z.
    public var isLoopback: Bool {
        if isIPv4 { return bytes[0] == 127 }
        if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
        return isMappedIPv4 && bytes[12] == 127
    }
}
