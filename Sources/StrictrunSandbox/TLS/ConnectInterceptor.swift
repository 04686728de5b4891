import StrictrunSystem
import StrictrunTrace

/// Where routed connections go — the TLS broker, as the tracer sees it. The broker itself
/// (SwiftNIO, swift-nio-ssl) lives in its own module and knows nothing of ptrace.
public protocol ConnectionRouter: Sendable {
    /// The broker's ports, starting the broker on the first call: the first routed connect, on the tracer
    /// thread (it blocks while the broker starts, a few ms; later calls return at once). A run that never
    /// routes a connection never starts it.
    func listeningPorts() throws(RouterUnavailable) -> BrokerPorts
    /// Starts the broker on another thread when it has not started, and returns at once (the
    /// tracer takes the first routed connect's stack meanwhile); `listeningPorts` then waits for it.
    func prepare()
    /// Returns once the files the program's trust variables name exist (they are made on another
    /// thread while the program is launched): the tracer calls it at the program's exec, before
    /// the program's first instruction.
    func waitUntilTrusted() throws(RouterUnavailable)
    /// The tracer connected the app socket with local address `appLocal` to the broker;
    /// the app meant `destination`. Called on the tracer thread; must not block.
    func register(appLocal: SocketEndpoint, destination: SocketEndpoint, connectionID: UInt64, pid: ProcessID)
    /// The routed connect's event as written to the trace (its thread, call and stack): the broker's
    /// later refusals of that connection carry it. `server` is the traced process whose listener
    /// the destination is (the program talks TLS to its own server), nil for any other destination.
    /// Called on the tracer thread right after `register`; must not block.
    func routed(connectionID: UInt64, connect: PolicyEvent, server: ProcessID?)
    /// The run is over: the broker stops (its connections closed, their last lines written, all
    /// before the trace's final line). Returns the policy lines it wrote, counted per rule.
    func finish() -> [RuleCount]
}

/// Where the broker listens.
public struct BrokerPorts: Sendable, Hashable {
    /// The port on 127.0.0.1.
    public var ipv4: Int
    /// The port on ::1, nil without IPv6 loopback.
    public var ipv6: Int?

    public init(ipv4: Int, ipv6: Int?) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }
}

/// The broker could not be started: the routed connect fails (ECONNREFUSED) with this reason.
public struct RouterUnavailable: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// The socket side of TLS routing, on the tracer thread: takes the app's socket with
/// pidfd_getfd, connects that same socket to the broker, tells the broker where the app
/// meant to go. Nothing is written into the app's memory and no second thread can race it:
/// the app's own connect() is skipped with the result strictrun's connect got.
final class ConnectRouting {
    let router: any ConnectionRouter
    /// The sockets routed so far (their getpeername answers the program's destination).
    let routed = RoutedSockets()
    private var handles: [ProcessID: ProcessHandleBox] = [:]
    private var nextConnectionID: UInt64 = 0
    /// The traced processes (the tracer's task table).
    var tracedProcesses: () -> Set<ProcessID> = { [] }
    /// Listening sockets (by inode) already looked up: their traced owner, or nil (not the program's).
    private var listenerOwners: [UInt64: ProcessID?] = [:]

    init(router: any ConnectionRouter) { self.router = router }

    /// The outcome of routing one connect().
    enum Routed {
        /// Routed: the app's connect returns `result` (0 or -EINPROGRESS). `server`: the traced
        /// process that listens at the destination, if one does.
        case connected(result: Int32, connectionID: UInt64, brokerLocal: SocketEndpoint, server: ProcessID?)
        /// Left alone, the program's own connect runs: not a TCP socket (e.g. QUIC over UDP), or
        /// nothing listens at a loopback destination (the program gets the kernel's ECONNREFUSED).
        case direct(reason: String)
        /// The broker could not be reached: the app's connect fails with this errno.
        case failed(errno: Int32, reason: String)
    }

    /// `meanwhile`: work for the tracer thread while the broker starts (the connect's stack), run
    /// once the connect is known to be routed and before the broker's ports are needed.
    func route(pid: ProcessID, fd: Int32, destination: SocketAddress, meanwhile: () -> Void = {}) -> Routed {
        guard let endpoint = destination.endpoint else { return .direct(reason: "not an IP address") }
        let handle: ProcessHandleBox
        if let known = handles[pid] {
            handle = known
        } else {
            do {
                handle = ProcessHandleBox(try ProcessHandle(pid: pid))
            } catch {
                return .failed(errno: Errno.connectionRefused, reason: "\(error)")
            }
            handles[pid] = handle
        }
        let socket: Descriptor
        do {
            socket = try handle.handle.duplicate(fd)
        } catch {
            return .failed(errno: Errno.badFD, reason: "\(error)")
        }
        guard Sockets.isStream(socket.raw) else { return .direct(reason: "not a TCP socket") }
        let loopback = IPAddressBytes(endpoint.ip)?.isLoopback == true
        var listener: UInt64?
        if loopback {
            switch Listeners.find(for: endpoint) {
            case .none?: return .direct(reason: "nothing listens on \(endpoint)")
            case .listening(let inode)?: listener = inode
            case nil: break
            }
        }
        // The connect is routed: the broker starts on its own thread now, while the tracer looks for the
        // traced process that owns the listener and takes the connect's stack.
        router.prepare()
        let server = listener.flatMap(owner(ofSocket:))
        meanwhile()
        let ports: BrokerPorts
        do {
            ports = try router.listeningPorts()
        } catch {
            return .failed(errno: Errno.connectionRefused, reason: "the TLS broker did not start: \(error)")
        }
        // A loopback destination sees the program's own local port as its peer: the broker binds its
        // upstream socket to that port too, which both sockets' SO_REUSEADDR allows (neither listens).
        if loopback { Sockets.allowAddressReuse(socket.raw) }
        // The same socket (same open file description, same O_NONBLOCK) as the app's.
        let code = Sockets.connectLoopback(socket.raw, ipv6: destination.family == SocketAddress.inet6,
                                           port: ports.ipv4, v6Port: ports.ipv6)
        guard code == 0 || code == Errno.inProgress else {
            return .failed(errno: code, reason: "connect to the broker: \(SystemError.text(code))")
        }
        guard let local = Sockets.localEndpoint(socket.raw) else {
            return .failed(errno: Errno.connectionRefused, reason: "getsockname failed")
        }
        nextConnectionID += 1
        if let identity = Sockets.identity(socket.raw) { routed.record(identity, destination: destination) }
        router.register(appLocal: local, destination: endpoint, connectionID: nextConnectionID, pid: pid)
        return .connected(result: code == 0 ? 0 : -Errno.inProgress, connectionID: nextConnectionID, brokerLocal: local,
                          server: server)
    }

    /// The traced process holding the listening socket `inode`, found once per listener in the
    /// processes' descriptor tables (`socket:[INODE]`).
    private func owner(ofSocket inode: UInt64) -> ProcessID? {
        if let known = listenerOwners[inode] { return known }
        let found = tracedProcesses().sorted().first { ProcFS.holdsSocket(pid: $0, inode: inode) }
        if listenerOwners.count > 4096 { listenerOwners = [:] }
        listenerOwners[inode] = found
        return found
    }

    /// The process exited or exec'd: its pidfd is no longer needed.
    func forget(pid: ProcessID) { handles[pid] = nil }
}

/// A pidfd kept in a dictionary (a noncopyable handle in a class box).
private final class ProcessHandleBox {
    let handle: ProcessHandle
    init(_ handle: consuming ProcessHandle) { self.handle = handle }
}
