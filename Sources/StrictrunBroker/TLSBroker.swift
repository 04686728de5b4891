#if canImport(Glibc)
import CStrictrunShims
import Glibc
#endif
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The mediated-TLS broker: the "trusted component" of the emulated OS that holds every key and does the TLS on
/// behalf of the app.
///
/// It listens on loopback only (`127.0.0.1` and `::1`, the same port on both when it can get it). strictrun's
/// tracer connects each routed app socket to it and announces the original destination with
/// ``register(appLocal:destination:connectionID:)``. The front (``StreamFront``, one thread) connects to the
/// destination and watches who sends first: a TLS ClientHello from the app goes to SwiftNIO, which terminates it
/// with a certificate of the per-run CA, opens verified TLS to the destination (presenting a client certificate
/// where configured) and relays the plaintext; any other stream is spliced through in the kernel
/// (``SpliceRelay``). Every method here is thread-safe.
public final class TLSBroker: Sendable {
    /// The port on 127.0.0.1.
    public let ipv4Port: Int
    /// The port on ::1 (`nil` when the machine has no IPv6 loopback); equal to `ipv4Port` when it was free.
    public let ipv6Port: Int?
    /// PEM of the per-run CA certificate alone (for `NODE_EXTRA_CA_CERTS`, which adds to Node's own roots).
    public let caCertificatePath: String
    /// PEM bundle: the system roots followed by the per-run CA (for variables that *replace* the trust store:
    /// `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`), so that the app still trusts the servers it reaches
    /// without the broker.
    public let combinedBundlePath: String

    private let core: BrokerCore
    private let threads: EventLoopThreads
    private let front: StreamFront
    private let stopped = Mutex(false)

    /// The system trust bundle (Debian `ca-certificates`).
    public static let systemBundlePath = "/etc/ssl/certs/ca-certificates.crt"

    private init(core: BrokerCore, threads: EventLoopThreads, front: StreamFront, ipv4Port: Int,
                 ipv6Port: Int?, caCertificatePath: String, combinedBundlePath: String) {
        self.core = core
        self.threads = threads
        self.front = front
        self.ipv4Port = ipv4Port
        self.ipv6Port = ipv6Port
        self.caCertificatePath = caCertificatePath
        self.combinedBundlePath = combinedBundlePath
    }

    /// The variables that make the common TLS stacks trust the per-run CA.
    public var appEnvironment: [String: String] {
        [
            "NODE_EXTRA_CA_CERTS": caCertificatePath,
            "SSL_CERT_FILE": combinedBundlePath,
            "REQUESTS_CA_BUNDLE": combinedBundlePath,
            "CURL_CA_BUNDLE": combinedBundlePath,
        ]
    }

    /// Starts the broker with the per-run CA of `trustFiles` (written earlier, before the app started; made here
    /// when nil): loads the client certificates, checks that the trust roots can be read (they are parsed at first use) and
    /// starts listening. Blocks until listening.
    /// `onEvent` is called on broker threads and must not block.
    public static func start(_ configuration: BrokerConfiguration, trustFiles: BrokerTrustFiles? = nil,
                             onEvent: @escaping @Sendable (BrokerEvent) -> Void) throws -> TLSBroker {
        let files = try trustFiles ?? BrokerTrustFiles.write(workDirectory: configuration.workDirectory)
        let trustPath: String
        switch configuration.trustRoots {
        case .system: trustPath = systemBundlePath
        case .file(let path): trustPath = path
        }
        // Parsed at first use (the warm-up after the start, or the first verification), not here.
        let trust = try TrustSource(paths: [trustPath] + configuration.extraTrustRoots)
        let rules = try configuration.clientCertificates.map(LoadedClientRule.init)
        let authority = CertificateAuthority(root: files.root)
        let caPath = files.caCertificatePath
        let bundlePath = files.combinedBundlePath

        let core = try BrokerCore(configuration: configuration, authority: authority, trust: trust,
                                  clientRules: rules, emit: onEvent)
        // SwiftNIO's threads are made after the ports are known (`warmUp`), or by the first TLS stream.
        let threads = EventLoopThreads(count: max(1, configuration.threads))
        let front = try StreamFront(core: core, threads: threads)
        return TLSBroker(core: core, threads: threads, front: front, ipv4Port: front.ipv4Port, ipv6Port: front.ipv6Port,
                         caCertificatePath: caPath, combinedBundlePath: bundlePath)
    }

    /// The tracer connected the app socket whose local address is `appLocal` to the broker; the app meant
    /// `destination`. Call it before or after that connection reaches the broker: an accepted connection waits up to
    /// ``BrokerConfiguration/registrationTimeout`` for it. `connectionID` tags every event of the connection.
    public func register(appLocal: SocketAddressKey, destination: Destination, connectionID: UInt64) {
        core.registry.register(appLocal, Registration(destination: destination, id: connectionID, registeredAt: .now()))
    }

    /// Makes SwiftNIO's threads, then runs a handshake's first-use work for no connection (`BrokerCore.warmUp`);
    /// blocks until done. The first routed connect waits for the listeners only: the threads (~1 ms) are made here,
    /// while that connect returns, unless a TLS stream needs them first.
    public func warmUp() {
        threads.start()
        core.warmUp()
    }

    /// Stops listening and closes every connection (each still reports `closed`). Blocks until the broker's threads
    /// are gone; do not call it from an `onEvent` handler. Safe to call twice.
    public func shutdown() {
        let already = stopped.withLock { stopped -> Bool in
            defer { stopped = true }
            return stopped
        }
        guard !already else { return }
        front.stop()
        threads.shutdown()
    }
}

/// What the app needs before it starts, made without starting the broker: the per-run CA (its key stays in this
/// process) and the two files that make the app trust it. The broker itself (trust store, TLS contexts, threads,
/// listeners) starts later, with ``TLSBroker/start(_:trustFiles:onEvent:)``, on the first routed connect.
public struct BrokerTrustFiles: Sendable {
    /// PEM of the per-run CA certificate alone (`NODE_EXTRA_CA_CERTS`).
    public let caCertificatePath: String
    /// The system roots followed by the per-run CA (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`).
    public let combinedBundlePath: String
    let root: CertificateAuthorityRoot

    /// The variables that make the common TLS stacks trust the per-run CA.
    public var appEnvironment: [String: String] {
        [
            "NODE_EXTRA_CA_CERTS": caCertificatePath,
            "SSL_CERT_FILE": combinedBundlePath,
            "REQUESTS_CA_BUNDLE": combinedBundlePath,
            "CURL_CA_BUNDLE": combinedBundlePath,
        ]
    }

    /// Where `write(workDirectory:)` puts the two files (known before they exist, for the environment).
    public static func paths(workDirectory: String) -> (caCertificate: String, combinedBundle: String) {
        ((workDirectory as NSString).appendingPathComponent("strictrun-ca.pem"),
         (workDirectory as NSString).appendingPathComponent("strictrun-ca-bundle.pem"))
    }

    /// Creates the per-run CA (one P-256 key, one signature) and writes `strictrun-ca.pem` and
    /// `strictrun-ca-bundle.pem` into `workDirectory` (created if missing). The system bundle is copied as
    /// bytes (about 200 KB; no text decoding).
    public static func write(workDirectory: String) throws(BrokerError) -> BrokerTrustFiles {
        let root = try CertificateAuthorityRoot()
        let (caPath, bundlePath) = paths(workDirectory: workDirectory)
        // A directory of an earlier run with this pid (killed, pid reused) is replaced.
        if mkdir(workDirectory, 0o755) != 0 {
            try? FileManager.default.removeItem(atPath: workDirectory)
            guard mkdir(workDirectory, 0o755) == 0 else {
                throw BrokerError.cannotWrite(path: workDirectory, reason: String(cString: strerror(errno)))
            }
        }
        let pem = Array((root.certificatePEM + "\n").utf8)
        try write(pem, to: caPath)
        try writeBundle(pem, to: bundlePath)
        return BrokerTrustFiles(caCertificatePath: caPath, combinedBundlePath: bundlePath, root: root)
    }

    /// The system bundle copied by the kernel (copy_file_range: no pages of it in this process),
    /// then the per-run CA; without a system bundle, the CA alone.
    private static func writeBundle(_ pem: [UInt8], to path: String) throws(BrokerError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BrokerError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var tail = Array("# strictrun per-run CA\n".utf8) + pem
        let system = open(TLSBroker.systemBundlePath, O_RDONLY | O_CLOEXEC)
        if system >= 0 {
            defer { close(system) }
            var copied = 0
            while true {
                let count = strictrun_copy_file_range(system, fd, 1 << 30)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                copied += count
            }
            // A filesystem copy_file_range refuses (EXDEV on old kernels, EINVAL): plain reads.
            if copied == 0, lseek(system, 0, SEEK_END) > 0 {
                lseek(system, 0, SEEK_SET)
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(system, $0.baseAddress, $0.count) }
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 { break }
                    try write(Array(buffer[..<count]), fd: fd, path: path)
                }
            }
            // The last byte of the system bundle: a newline before the CA's comment if it had none.
            var last: UInt8 = UInt8(ascii: "\n")
            if lseek(system, -1, SEEK_END) >= 0, read(system, &last, 1) == 1, last != UInt8(ascii: "\n") {
                tail.insert(UInt8(ascii: "\n"), at: 0)
            }
        }
        try write(tail, fd: fd, path: path)
    }

    /// `bytes` into a new file at `path` (mode 0644), with plain open/write/close.
    private static func write(_ bytes: [UInt8], to path: String) throws(BrokerError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BrokerError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        try write(bytes, fd: fd, path: path)
    }

    private static func write(_ bytes: [UInt8], fd: Int32, path: String) throws(BrokerError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw BrokerError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
    }
}

/// SwiftNIO's event loops, made once: by the warm-up right after the broker listens, or by the first TLS stream if it
/// comes first (it then waits for them). After `shutdown` none are made.
final class EventLoopThreads: Sendable {
    private enum State {
        case none, made(MultiThreadedEventLoopGroup), closed
    }
    private let count: Int
    private let state = Mutex<State>(.none)

    init(count: Int) { self.count = count }

    /// Makes the threads when they do not exist yet.
    func start() { _ = next() }

    /// A loop for one connection (nil once shut down).
    func next() -> EventLoop? {
        state.withLock { state -> EventLoop? in
            switch state {
            case .made(let group): return group.next()
            case .closed: return nil
            case .none:
                let group = MultiThreadedEventLoopGroup(numberOfThreads: count)
                state = .made(group)
                return group.next()
            }
        }
    }

    /// Stops the threads (if made) and blocks until they are gone.
    func shutdown() {
        let previous = state.withLock { state -> State in
            defer { state = .closed }
            return state
        }
        if case .made(let group) = previous { try? group.syncShutdownGracefully() }
    }
}
