#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims
import StrictrunPolicy

/// Where routed connections go — the TLS broker, as the tracer sees it. The broker itself
/// (SwiftNIO, swift-nio-ssl) lives in its own module and knows nothing of ptrace.
public protocol ConnectionRouter: Sendable {
    /// The broker's port on 127.0.0.1.
    var ipv4Port: Int { get }
    /// The broker's port on ::1, nil without IPv6 loopback.
    var ipv6Port: Int? { get }
    /// The tracer connected the app socket with local address `appLocal` to the broker;
    /// the app meant `destination`. Called on the tracer thread; must not block.
    func register(appLocal: SocketEndpoint, destination: SocketEndpoint, connectionID: UInt64, pid: pid_t)
}

/// An IP address and port, as the tracer decoded it.
public struct SocketEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var ip: String
    public var port: Int
    public var description: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

/// A sockaddr read from the tracee, kept as the bytes that were checked.
struct DecodedSockaddr {
    var family: Int32
    var endpoint: SocketEndpoint
    var bytes: [UInt8]

    /// Reads and decodes AF_INET / AF_INET6 sockaddrs at `address` (length `length`) in the
    /// tracee; nil for other families or unreadable memory.
    static func read(pid: pid_t, address: UInt64, length: UInt64) -> DecodedSockaddr? {
        guard address != 0, length >= 2, length <= 128 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let n = bytes.withUnsafeMutableBytes { strictrun_read_memory(pid, address, $0.baseAddress, $0.count) }
        guard n == Int(length) else { return nil }
        let family = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        let port = Int(UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        var text = [CChar](repeating: 0, count: 64)
        switch family {
        case AF_INET where length >= 16:
            _ = bytes.withUnsafeBytes { inet_ntop(AF_INET, $0.baseAddress! + 4, &text, 64) }
        case AF_INET6 where length >= 24:
            _ = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress! + 8, &text, 64) }
        default:
            return nil
        }
        let ip = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return DecodedSockaddr(family: family, endpoint: SocketEndpoint(ip: ip, port: port), bytes: bytes)
    }
}

/// The socket side of TLS routing, on the tracer thread: takes the app's socket with
/// pidfd_getfd, connects that same socket to the broker, tells the broker where the app
/// meant to go. Nothing is written into the app's memory and no second thread can race it:
/// the app's own connect() is skipped with the result strictrun's connect got.
final class ConnectInterceptor {
    private let router: any ConnectionRouter
    private var pidfds: [pid_t: Int32] = [:]
    private var nextConnectionID: UInt64 = 0

    init(router: any ConnectionRouter) { self.router = router }

    deinit { for fd in pidfds.values { close(fd) } }

    /// The outcome of routing one connect().
    enum Routed {
        /// Routed: the app's connect returns `result` (0 or -EINPROGRESS).
        case connected(result: Int32, connectionID: UInt64, brokerLocal: SocketEndpoint)
        /// Not a stream socket (e.g. QUIC over UDP): left alone.
        case notStream
        /// The broker could not be reached: the app's connect fails with this errno.
        case failed(errno: Int32, reason: String)
    }

    func route(pid: pid_t, fd: Int32, destination: DecodedSockaddr) -> Routed {
        let pidfd: Int32
        if let known = pidfds[pid] {
            pidfd = known
        } else {
            pidfd = strictrun_pidfd_open(pid)
            guard pidfd >= 0 else { return .failed(errno: ECONNREFUSED, reason: "pidfd_open: \(errnoText())") }
            pidfds[pid] = pidfd
        }
        let socket = strictrun_pidfd_getfd(pidfd, fd)
        guard socket >= 0 else { return .failed(errno: EBADF, reason: "pidfd_getfd: \(errnoText())") }
        defer { close(socket) }
        var type: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(socket, SOL_SOCKET, SO_TYPE, &type, &size) == 0, type == Int32(SOCK_STREAM.rawValue) else {
            return .notStream
        }
        // The same socket (same open file description, same O_NONBLOCK) as the app's.
        let rc: Int32
        if destination.family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            if let port = router.ipv6Port {
                address.sin6_port = in_port_t(UInt16(port).bigEndian)
                address.sin6_addr = in6addr_loopback
            } else {
                // No IPv6 loopback: reach the IPv4 listener through a v4-mapped address.
                address.sin6_port = in_port_t(UInt16(router.ipv4Port).bigEndian)
                _ = inet_pton(AF_INET6, "::ffff:127.0.0.1", &address.sin6_addr)
            }
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(router.ipv4Port).bigEndian)
            address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        let connectErrno = errno
        guard rc == 0 || connectErrno == EINPROGRESS else {
            return .failed(errno: connectErrno, reason: "connect to the broker: \(String(cString: strerror(connectErrno)))")
        }
        guard let local = Self.localEndpoint(socket) else {
            return .failed(errno: ECONNREFUSED, reason: "getsockname: \(errnoText())")
        }
        nextConnectionID += 1
        router.register(appLocal: local, destination: destination.endpoint, connectionID: nextConnectionID, pid: pid)
        return .connected(result: rc == 0 ? 0 : -EINPROGRESS, connectionID: nextConnectionID, brokerLocal: local)
    }

    /// The process exited or exec'd: its pidfd is no longer needed.
    func forget(pid: pid_t) {
        if let fd = pidfds.removeValue(forKey: pid) { close(fd) }
    }

    private static func localEndpoint(_ socket: Int32) -> SocketEndpoint? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) == 0 }
        }
        guard ok else { return nil }
        let bytes = withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) }
        var text = [CChar](repeating: 0, count: 64)
        let port = Int(UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        switch Int32(storage.ss_family) {
        case AF_INET: _ = bytes.withUnsafeBytes { inet_ntop(AF_INET, $0.baseAddress! + 4, &text, 64) }
        case AF_INET6: _ = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress! + 8, &text, 64) }
        default: return nil
        }
        let ip = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return SocketEndpoint(ip: ip, port: port)
    }

    private func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Making the kernel use exactly the bytes the tracer checked: a copy below the stopped
/// thread's stack (past the red zone) and the argument register pointed at it, so that
/// another thread rewriting the original buffer after the check changes nothing.
enum ArgumentPinning {
    /// Copies `bytes` below the stack of `tid` and points syscall argument `index` at the
    /// copy. Returns false when the tracee could not be changed.
    static func pin(tid: pid_t, pid: pid_t, argument index: Int, bytes: [UInt8]) -> Bool {
        var regs = user_regs_struct()
        guard strictrun_getregs(tid, &regs) == 0 else { return false }
        // 128 bytes of red zone, then room for the copy, 16-byte aligned.
        let target = (regs.rsp &- 128 &- UInt64(bytes.count) &- 64) & ~15
        let written = bytes.withUnsafeBytes { strictrun_write_memory(pid, target, $0.baseAddress, $0.count) }
        guard written == bytes.count else { return false }
        switch index {
        case 0: regs.rdi = target
        case 1: regs.rsi = target
        case 2: regs.rdx = target
        case 4: regs.r8 = target
        default: return false
        }
        return strictrun_setregs(tid, &regs) == 0
    }
}
