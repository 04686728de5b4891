import CStrictrunShims
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOPosix
import StrictrunSystem
import Synchronization

/// Where routed connections arrive, before anyone knows what they carry: one thread with an epoll
/// loop accepts the app's connection, waits for the tracer's registration (who the app meant),
/// connects to the destination and watches who sends first. The app's first byte 0x16 (a TLS
/// handshake record) hands both sockets to SwiftNIO (``BrokeredConnection``: TLS terminated with
/// the per-run CA, verified upstream); anything else — other bytes, the destination speaking or
/// closing first, the app closing first, `mode: relay` — stays here as a ``SpliceRelay``, relayed
/// in the kernel at loopback speed. A stream where neither side sends waits without a timeout.
final class StreamFront: @unchecked Sendable {
    /// An accepted connection not yet classified.
    private final class Pending {
        let app: Int32
        let peer: SocketAddressKey
        var registration: Registration?
        var upstream: Int32 = -1
        var connected = false
        /// Registration, then upstream connect, deadline (nil while sniffing: no timeout).
        var deadline: ContinuousClock.Instant?

        init(app: Int32, peer: SocketAddressKey, deadline: ContinuousClock.Instant) {
            self.app = app
            self.peer = peer
            self.deadline = deadline
        }
    }

    private enum Owner {
        case listener
        case wake
        case pendingApp(Pending)
        case pendingUpstream(Pending)
        case relay(SpliceRelay)
    }

    let ipv4Port: Int
    let ipv6Port: Int?
    private let core: BrokerCore
    private let threads: EventLoopThreads
    private let epoll: Int32
    private let wake: Int32
    private let listeners: [Int32]
    private var owners: [Int32: Owner] = [:]
    private var interests: [Int32: UInt32] = [:]
    /// Descriptors given up while one batch of epoll events is handled. A later event of the same
    /// batch for that number is stale: the number may already be a connection accepted meanwhile,
    /// which the stale event would have dropped (its app saw ECONNRESET, and no event said why).
    private var retired: Set<Int32> = []
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    /// Listens on 127.0.0.1 and ::1 (the same port when free) and starts the loop's thread.
    init(core: BrokerCore, threads: EventLoopThreads) throws {
        self.core = core
        self.threads = threads
        epoll = strictrun_epoll_create()
        wake = strictrun_eventfd()
        guard epoll >= 0, wake >= 0 else { throw BrokerError.cannotListen(address: "epoll", reason: String(cString: strerror(errno))) }
        let v4 = try Self.listen(ipv6: false, port: 0)
        var sockets = [v4.fd]
        var v6Port: Int?
        if let v6 = (try? Self.listen(ipv6: true, port: v4.port)) ?? (try? Self.listen(ipv6: true, port: 0)) {
            sockets.append(v6.fd)
            v6Port = v6.port
        }
        listeners = sockets
        ipv4Port = v4.port
        ipv6Port = v6Port
        for fd in sockets { watch(fd, .listener, STRICTRUN_EPOLLIN) }
        watch(wake, .wake, STRICTRUN_EPOLLIN)
        core.registry.onRegister = { [wake] in
            var one: UInt64 = 1
            _ = Glibc.write(wake, &one, 8)
        }
        guard Threads.start(name: "strictrun-broker-front", { [self] in run() }) else {
            throw BrokerError.cannotListen(address: "the front's thread", reason: "pthread_create failed")
        }
    }

    private static func listen(ipv6: Bool, port: Int) throws -> (fd: Int32, port: Int) {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                        | Int32(SOCK_CLOEXEC.rawValue), 0)
        let name = ipv6 ? "[::1]:\(port)" : "127.0.0.1:\(port)"
        guard fd >= 0 else { throw BrokerError.cannotListen(address: name, reason: String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if ipv6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        guard let address = try? NIOCore.SocketAddress(ipAddress: ipv6 ? "::1" : "127.0.0.1", port: port) else {
            close(fd)
            throw BrokerError.cannotListen(address: name, reason: "bad address")
        }
        let bound = address.withSockAddr { bind(fd, $0, socklen_t($1)) }
        guard bound == 0, Glibc.listen(fd, 1024) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BrokerError.cannotListen(address: name, reason: reason)
        }
        return (fd, Sockets.localEndpoint(fd)?.port ?? port)
    }

    /// Stops the loop: every relay is closed (and reported), pending connections are dropped.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        _ = Glibc.write(wake, &one, 8)
        done.wait()
    }

    // MARK: The loop

    private func run() {
        var fds = [Int32](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while !stopping.load(ordering: .acquiring) {
            let count = strictrun_epoll_wait(epoll, &fds, &events, 64, nextTimeout())
            if count < 0 && errno != EINTR { break }
            retired.removeAll(keepingCapacity: true)
            for index in 0..<max(0, Int(count)) where !retired.contains(fds[index]) {
                handle(fd: fds[index], events: events[index])
            }
            expireDeadlines()
        }
        for (fd, owner) in owners {
            switch owner {
            case .relay(let relay) where fd == relay.app: finish(relay, reset: false)
            case .pendingApp(let pending): drop(pending)
            default: break
            }
        }
        for fd in listeners { close(fd) }
        close(wake)
        close(epoll)
        done.signal()
    }

    private func handle(fd: Int32, events: UInt32) {
        switch owners[fd] {
        case .listener?: accept(from: fd)
        case .wake?:
            var value: UInt64 = 0
            _ = Glibc.read(wake, &value, 8)
            claimRegistrations()
        case .pendingApp(let pending)?: appReadable(pending)
        case .pendingUpstream(let pending)?: pending.connected ? upstreamReadable(pending) : upstreamConnected(pending)
        case .relay(let relay)?: pump(relay)
        case nil: break
        }
    }

    private func accept(from listener: Int32) {
        while true {
            let fd = Glibc.accept(listener, nil, nil)
            guard fd >= 0 else { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            guard let peer = Sockets.peerEndpoint(fd).map({ SocketAddressKey(ip: $0.ip, port: $0.port) }) else {
                close(fd)
                continue
            }
            let pending = Pending(app: fd, peer: peer, deadline: .now + core.configuration.registrationTimeout)
            watch(fd, .pendingApp(pending), 0)  // hang-ups only, until the destination is connected
            if let registration = core.registry.take(peer) {
                connect(pending, registration)
            } else {
                core.configuration.onUnregisteredAccept?(peer)
                if let registration = core.registry.take(peer) { connect(pending, registration) }
            }
        }
    }

    private func claimRegistrations() {
        for case .pendingApp(let pending) in owners.values where pending.registration == nil {
            if let registration = core.registry.take(pending.peer) { connect(pending, registration) }
        }
    }

    private func connect(_ pending: Pending, _ registration: Registration) {
        pending.registration = registration
        pending.deadline = .now + core.configuration.upstreamConnectTimeout
        let destination = registration.destination
        guard let address = try? NIOCore.SocketAddress(ipAddress: destination.ip, port: destination.port) else {
            return failUpstream(pending, "invalid destination address \(destination)")
        }
        let fd = socket(Int32(address.protocol.rawValue), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                        | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return failUpstream(pending, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        pending.upstream = fd
        if IPAddressBytes(destination.ip)?.isLoopback == true,
           let local = try? NIOCore.SocketAddress(ipAddress: pending.peer.ip, port: pending.peer.port),
           local.protocol == address.protocol {
            // The destination sees the program's own local port as its peer, as without the broker (the
            // tracer set SO_REUSEADDR on the program's socket); when that cannot be, an ephemeral port.
            Sockets.allowAddressReuse(fd)
            _ = local.withSockAddr { bind(fd, $0, socklen_t($1)) }
        }
        let rc = address.withSockAddr { Glibc.connect(fd, $0, socklen_t($1)) }
        if rc != 0 && errno != EINPROGRESS { return failUpstream(pending, Self.describe(errno: errno)) }
        watch(fd, .pendingUpstream(pending), STRICTRUN_EPOLLOUT)
    }

    private func upstreamConnected(_ pending: Pending) {
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(pending.upstream, SOL_SOCKET, SO_ERROR, &error, &size)
        guard error == 0 else { return failUpstream(pending, Self.describe(errno: error)) }
        pending.connected = true
        pending.deadline = nil
        if core.configuration.mode == .relay { return relay(pending, reason: "relay mode") }
        // Who sends (or ends) first decides.
        setInterest(pending.app, STRICTRUN_EPOLLIN)
        setInterest(pending.upstream, STRICTRUN_EPOLLIN)
    }

    private func appReadable(_ pending: Pending) {
        guard pending.connected else {
            // Before the destination is connected only a hang-up wakes this: the app gave up.
            return drop(pending)
        }
        var byte: UInt8 = 0
        let n = recv(pending.app, &byte, 1, Int32(MSG_PEEK))
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n == 1 && byte == 0x16 { return handOver(pending) }
        relay(pending, reason: n == 1 ? "the app does not speak TLS (first byte 0x\(String(byte, radix: 16)))"
                                   : "the app ended its side before sending a byte")
    }

    private func upstreamReadable(_ pending: Pending) {
        var byte: UInt8 = 0
        let n = recv(pending.upstream, &byte, 1, Int32(MSG_PEEK))
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        relay(pending, reason: n == 1 ? "the destination spoke first (a server-speaks-first protocol)"
                                   : "the destination closed the connection before either side sent a byte")
    }

    // MARK: Outcomes

    /// TLS: both sockets go to SwiftNIO, the app's first bytes still unread.
    private func handOver(_ pending: Pending) {
        guard let registration = pending.registration else { return drop(pending) }
        guard let loop = threads.next() else {  // the broker is stopping
            drop(pending)
            core.emit(.closed(id: registration.id, destination: registration.destination, bytesUp: 0, bytesDown: 0))
            return
        }
        forget(pending.app)
        forget(pending.upstream)
        let core = self.core, peer = pending.peer, app = pending.app
        ClientBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(InboundHoldHandler(parseHello: false))
                }
            }
            .withConnectedSocket(pending.upstream)
            .flatMap { upstream in
                ClientBootstrap(group: loop)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .channelInitializer { app in
                        app.eventLoop.makeCompletedFuture {
                            try BrokeredConnection(core: core, app: app, peer: peer).start(registration, upstream: upstream)
                        }
                    }
                    .withConnectedSocket(app)
                    .map { _ in () }
            }
            .whenFailure { error in
                core.emit(.appFailed(id: registration.id, destination: registration.destination, sni: nil,
                                     reason: "cannot hand the connection to the TLS event loop: \(error)"))
            }
    }

    private func relay(_ pending: Pending, reason: String) {
        guard let registration = pending.registration else { return drop(pending) }
        forget(pending.app)
        forget(pending.upstream)
        core.emit(.relayed(id: registration.id, destination: registration.destination, reason: reason))
        guard let relay = SpliceRelay(id: registration.id, destination: registration.destination,
                                      app: pending.app, upstream: pending.upstream) else {
            Sockets.closeWithReset(pending.app)
            close(pending.upstream)
            core.emit(.closed(id: registration.id, destination: registration.destination, bytesUp: 0, bytesDown: 0))
            return
        }
        watch(relay.app, .relay(relay), 0)
        watch(relay.upstream, .relay(relay), 0)
        pump(relay)
    }

    private func pump(_ relay: SpliceRelay) {
        switch relay.pump() {
        case .running:
            setInterest(relay.app, relay.appInterest)
            setInterest(relay.upstream, relay.upstreamInterest)
        case .finished: finish(relay, reset: false)
        case .failed: finish(relay, reset: true)
        }
    }

    private func finish(_ relay: SpliceRelay, reset: Bool) {
        forget(relay.app)
        forget(relay.upstream)
        relay.close(reset: reset)
        core.emit(.closed(id: relay.id, destination: relay.destination, bytesUp: relay.up.total, bytesDown: relay.down.total))
    }

    private func failUpstream(_ pending: Pending, _ reason: String) {
        if let registration = pending.registration {
            core.emit(.upstreamFailed(id: registration.id, destination: registration.destination, sni: nil,
                                      reason: reason, alertToApp: nil))
        }
        forget(pending.app)
        Sockets.closeWithReset(pending.app)
        if pending.upstream >= 0 {
            forget(pending.upstream)
            close(pending.upstream)
        }
    }

    private func drop(_ pending: Pending) {
        forget(pending.app)
        close(pending.app)
        if pending.upstream >= 0 {
            forget(pending.upstream)
            close(pending.upstream)
        }
    }

    private func expireDeadlines() {
        let now = ContinuousClock.now
        for case .pendingApp(let pending) in owners.values {
            guard let deadline = pending.deadline, deadline <= now else { continue }
            if pending.registration == nil {
                drop(pending)
                core.emit(.unregistered(peer: pending.peer))
            } else {
                failUpstream(pending, "connect timed out after \(core.configuration.upstreamConnectTimeout)")
            }
        }
    }

    private func nextTimeout() -> Int32 {
        var nearest: ContinuousClock.Instant?
        for case .pendingApp(let pending) in owners.values {
            if let deadline = pending.deadline, nearest.map({ deadline < $0 }) ?? true { nearest = deadline }
        }
        guard let nearest else { return -1 }
        let left = ContinuousClock.now.duration(to: nearest)
        return Int32(max(0, min(60_000, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)))
    }

    // MARK: epoll bookkeeping

    private func watch(_ fd: Int32, _ owner: Owner, _ interest: UInt32) {
        owners[fd] = owner
        interests[fd] = interest
        _ = strictrun_epoll_ctl(epoll, 1, fd, interest)
    }

    private func setInterest(_ fd: Int32, _ interest: UInt32) {
        guard interests[fd] != interest else { return }
        interests[fd] = interest
        _ = strictrun_epoll_ctl(epoll, 3, fd, interest)
    }

    private func forget(_ fd: Int32) {
        guard owners.removeValue(forKey: fd) != nil else { return }
        retired.insert(fd)
        interests[fd] = nil
        _ = strictrun_epoll_ctl(epoll, 2, fd, 0)
    }

    static func describe(errno code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "connection refused (ECONNREFUSED)"
        case ETIMEDOUT: "connection timed out (ETIMEDOUT)"
        case EHOSTUNREACH: "no route to host (EHOSTUNREACH)"
        case ENETUNREACH: "network unreachable (ENETUNREACH)"
        case ECONNRESET: "connection reset (ECONNRESET)"
        default: "connect failed: \(String(cString: strerror(code)))"
        }
    }
}
