#if canImport(Glibc)
import Glibc
#endif

/// An IP address and port.
public struct SocketEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var ip: String
    public var port: Int
    public init(ip: String, port: Int) {
        self.ip = ip
        self.port = port
    }
    public var description: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

/// A `struct sockaddr` as the program passed it: the exact bytes (what a check pins), and
/// what they decode to. The one sockaddr decoder.
public struct SocketAddress: Sendable, Hashable {
    public static let unix = AF_UNIX
    public static let inet = AF_INET
    public static let inet6 = AF_INET6

    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Reads `length` bytes at `address` of the program (at most 128); nil when unreadable.
    public static func read(_ memory: some MemoryReading, at address: UInt64, length: UInt64) -> SocketAddress? {
        guard address != 0, length >= 2, length <= 128 else { return nil }
        let bytes = memory.read(at: address, count: Int(length))
        return bytes.count == Int(length) ? SocketAddress(bytes: bytes) : nil
    }

    /// sa_family.
    public var family: Int32 { bytes.count >= 2 ? Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8) : -1 }

    /// The address and port of an AF_INET / AF_INET6 sockaddr; nil for others.
    public var endpoint: SocketEndpoint? {
        guard bytes.count >= 4 else { return nil }
        let port = Int(UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        var text = [CChar](repeating: 0, count: 64)
        switch family {
        case AF_INET where bytes.count >= 16:
            _ = bytes.withUnsafeBytes { inet_ntop(AF_INET, $0.baseAddress! + 4, &text, 64) }
        case AF_INET6 where bytes.count >= 24:
            _ = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress! + 8, &text, 64) }
        default:
            return nil
        }
        let ip = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return SocketEndpoint(ip: ip, port: port)
    }

    /// The path of an AF_UNIX sockaddr, as bytes (nil for other families and abstract names).
    public var unixPath: [UInt8]? {
        guard family == AF_UNIX, bytes.count > 2, bytes.count <= 110, bytes[2] != 0 else { return nil }
        return Array(bytes[2...].prefix { $0 != 0 })
    }
}

/// The few socket calls the tracer makes on a descriptor it borrowed from the program.
public enum Sockets {
    /// Whether `fd` is a SOCK_STREAM socket (getsockopt SO_TYPE).
    public static func isStream(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == Int32(SOCK_STREAM.rawValue)
    }

    /// connect(2) of `fd` to a loopback port: `::1` when `ipv6` and a v6 port, `::ffff:127.0.0.1`
    /// for an IPv6 socket without one, else 127.0.0.1. Returns 0, or the errno (EINPROGRESS for
    /// a non-blocking socket is the caller's to judge).
    public static func connectLoopback(_ fd: Int32, ipv6: Bool, port: Int, v6Port: Int?) -> Int32 {
        let rc: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            if let v6Port {
                address.sin6_port = in_port_t(UInt16(v6Port).bigEndian)
                address.sin6_addr = in6addr_loopback
            } else {
                address.sin6_port = in_port_t(UInt16(port).bigEndian)
                _ = inet_pton(AF_INET6, "::ffff:127.0.0.1", &address.sin6_addr)
            }
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        return rc == 0 ? 0 : errno
    }

    /// SO_REUSEADDR on.
    public static func allowAddressReuse(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The socket's identity (sockfs device and inode, as /proc/PID/fd/N stats).
    public static func identity(_ fd: Int32) -> FileIdentity? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Closes `fd` with RST (SO_LINGER 0): the peer sees ECONNRESET, not an orderly end.
    public static func closeWithReset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    /// getsockname(2), decoded; nil on failure or for a non-IP socket.
    public static func localEndpoint(_ fd: Int32) -> SocketEndpoint? { endpoint(fd, peer: false) }

    /// getpeername(2), decoded; nil on failure or for a non-IP socket.
    public static func peerEndpoint(_ fd: Int32) -> SocketEndpoint? { endpoint(fd, peer: true) }

    private static func endpoint(_ fd: Int32, peer: Bool) -> SocketEndpoint? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                (peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)) == 0
            }
        }
        guard ok else { return nil }
        return SocketAddress(bytes: withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) }).endpoint
    }
}

/// errno values the checks answer with, by name (so no check imports Glibc).
public enum Errno {
    public static let permission = EPERM
    public static let noEntry = ENOENT
    public static let access = EACCES
    public static let again = EAGAIN
    public static let noSys = ENOSYS
    public static let badFD = EBADF
    public static let connectionRefused = ECONNREFUSED
    public static let inProgress = EINPROGRESS
    public static let readOnlyFS = EROFS
    public static let addressNotAvailable = EADDRNOTAVAIL
    public static let networkUnreachable = ENETUNREACH
    public static let hostUnreachable = EHOSTUNREACH
    public static let notSupported = EOPNOTSUPP
    public static let invalid = EINVAL
    public static let argumentListTooLong = E2BIG
    public static let fault = EFAULT
    public static let noSuchProcess = ESRCH
}

/// AT_FDCWD.
public let atCurrentDirectory: Int32 = AT_FDCWD
