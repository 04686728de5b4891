import Foundation
import StrictrunBroker
import StrictrunPolicy
import StrictrunSandbox
import StrictrunSystem
import StrictrunTrace
import Synchronization

/// The TLS broker of a profile whose `tls` rule routes, connected to the tracer (as its `ConnectionRouter`) and to
/// the trace (its events become `tls` lines).
///
/// Made before the program starts, it only creates the per-run CA and the files that make the program trust it,
/// on a thread of its own while the program is launched; the tracer waits for them at the program's exec (the
/// program may read them at once: Node does). The broker itself — listeners, then SwiftNIO threads and the trust
/// store — starts on the first routed connect (`prepare()`), so a run that never contacts a TLS port starts none.
/// The same thread starts it: once the CA is made it sleeps until then (or until the run ends). A thread made at
/// that connect could wait milliseconds for a CPU (placed beside the tracer, busy with the connect's stack); a
/// sleeping one is woken onto the idle core.
final class BrokerBridge: ConnectionRouter, Sendable {
    private let configuration: BrokerConfiguration
    /// Where the broker's events go (set by `attach` once the trace is open).
    private let trace = Mutex<TraceWriter?>(nil)
    private let state = Mutex<State>(.notStarted)
    private let owners = Owners()
    /// The policy lines the broker's findings became, per rule and action.
    private let findingCounts = FindingCounts()

    private final class FindingCounts: Sendable {
        private let map = Mutex<[String: Int]>([:])
        func add(rule: String, action: EventAction) { map.withLock { $0["\(rule)\u{1}\(action.rawValue)", default: 0] += 1 } }
        var all: [RuleCount] {
            map.withLock { $0 }.sorted { $0.key < $1.key }.map { key, count in
                let parts = key.split(separator: "\u{1}").map(String.init)
                return RuleCount(category: "tls", rule: parts[0], action: parts[1], count: count)
            }
        }
    }
    /// The per-run CA and its files, made on the `strictrun-tls` thread while the launcher loads the
    /// profile and opens the trace; `waitUntilTrusted()` waits for it at the program's exec.
    private let preparation = Preparation()
    private let startup = Startup()
    /// Wakes the CA's thread to start the broker (state `.starting`) or to end (`.stopped`).
    private let wake = DispatchSemaphore(value: 0)
    private let caPath: String
    private let bundlePath: String

    private enum State {
        case notStarted
        case starting
        case running(TLSBroker)
        case failed(String)
        case stopped
    }

    /// The per-run CA's trust variables for the program's environment (the files exist once
    /// `ready()` returned).
    var environment: [String: String] {
        ["NODE_EXTRA_CA_CERTS": caPath, "SSL_CERT_FILE": bundlePath, "REQUESTS_CA_BUNDLE": bundlePath,
         "CURL_CA_BUNDLE": bundlePath]
    }

    /// Whether the broker has been started (a routed connect happened).
    var started: Bool {
        state.withLock { if case .running = $0 { return true } else { return false } }
    }

    /// Starts making the per-run CA and its files on a thread of its own (overlapping the filter's
    /// compilation), which then sleeps until the first routed connect or the end of the run; nothing
    /// of the broker itself.
    init(tls: TLSPolicy) {
        let parent = Self.parentDirectory
        let directory = (parent as NSString).appendingPathComponent("\(getpid())")
        var configuration = BrokerConfiguration(workDirectory: directory)
        configuration.trustRoots = tls.trustBundle.map { .file($0) } ?? .system
        configuration.extraTrustRoots = tls.extraTrust
        configuration.mode = tls.relay ? .relay : .terminate
        configuration.addedLatencyPerRecord = .microseconds(Int64(tls.latencyPerRecordMs * 1000))
        configuration.clientCertificates = tls.clientCertificates.map {
            ClientCertificateRule(hostPattern: $0.host, certificateChainPath: $0.certificate, privateKeyPath: $0.key)
        }
        self.configuration = configuration
        (caPath, bundlePath) = BrokerTrustFiles.paths(workDirectory: directory)
        let preparation = self.preparation
        let started = Threads.start(name: "strictrun-tls") { [self] in
            preparation.finish(Result { () throws(BrokerError) -> BrokerTrustFiles in
                try Self.makeParent(parent)
                let files = try BrokerTrustFiles.write(workDirectory: directory)
                Self.removeStaleDirectories(in: parent)
                return files
            })
            wake.wait()
            if case .starting = state.withLock({ $0 }) { runStart() }
        }
        // No thread, no CA: the run ends at the program's exec (fail closed), as when the CA fails.
        if !started { preparation.finish(.failure(.certificateAuthority(reason: "cannot start its thread"))) }
    }

    /// `TMPDIR/strictrun-tls-UID`: the per-run CA directories of one user, each named by its
    /// strictrun's pid (so that finding a killed run's is a look through a few entries, not
    /// through the whole temporary directory).
    /// `TMPDIR` is read as Foundation's `temporaryDirectory` reads it (unset or empty: /tmp), without
    /// building its URL, whose first use cost a conformance scan of the whole binary at every run.
    static var parentDirectory: String {
        let variable = getenv("TMPDIR").map { String(cString: $0) } ?? ""
        var base = variable.isEmpty ? "/tmp" : variable
        while base.utf8.count > 1, base.hasSuffix("/") { base.removeLast() }
        // Strings joined as Strings: appending a Substring (generic over its Sequence) looked up its
        // element type at run time, the first conformance scan of the run.
        return (base == "/" ? "" : base) + "/strictrun-tls-" + String(getuid())
    }

    /// Creates `parent` (0700) or accepts it when it is this user's own directory, not a
    /// symlink and writable by nobody else: in a shared /tmp another user could have made it.
    private static func makeParent(_ parent: String) throws(BrokerError) {
        if mkdir(parent, 0o700) != 0, errno != EEXIST {
            throw BrokerError.cannotWrite(path: parent, reason: String(cString: strerror(errno)))
        }
        var info = stat()
        guard lstat(parent, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid(),
              info.st_mode & 0o022 == 0 else {
            throw BrokerError.cannotWrite(path: parent, reason: "not a directory of this user's alone")
        }
    }

    /// The per-run CA directories in `parent` (named by pid) of runs that were killed before they
    /// could remove theirs (whose strictrun is gone; each holds certificates only, never a key).
    static func removeStaleDirectories(in parent: String = parentDirectory) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for name in names {
            guard let pid = pid_t(name), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            remove((parent as NSString).appendingPathComponent(name))
        }
    }

    /// The trace the broker's events go to.
    func attach(_ writer: TraceWriter) { trace.withLock { $0 = writer } }

    /// Waits until the per-run CA's files are written (the tracer calls it at the program's exec,
    /// before its first instruction); throws when they could not be.
    func waitUntilTrusted() throws(RouterUnavailable) {
        do {
            _ = try trustFiles()
        } catch {
            throw RouterUnavailable("cannot make the TLS broker's per-run CA: \(error)")
        }
    }

    private func trustFiles() throws(BrokerError) -> BrokerTrustFiles {
        try preparation.wait().get()
    }

    /// The per-run CA being made on its thread: its result, once there.
    private final class Preparation: Sendable {
        private let result = Mutex<Result<BrokerTrustFiles, BrokerError>?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func finish(_ outcome: Result<BrokerTrustFiles, BrokerError>) {
            result.withLock { $0 = outcome }
            done.signal()
        }

        /// Blocks until `finish` was called (at once afterwards).
        func wait() -> Result<BrokerTrustFiles, BrokerError> {
            if let known = result.withLock({ $0 }) { return known }
            done.wait()
            return result.withLock { $0! }
        }
    }

    /// Which process each connection came from, for the `tls` lines, and its routed connect's
    /// event (thread, call, stack) for the policy lines the broker's findings become.
    private final class Owners: Sendable {
        struct Connection {
            var pid: pid_t
            var connect: PolicyEvent?
            /// The traced process whose own server is the destination.
            var server: pid_t?
        }

        private let map = Mutex<[UInt64: Connection]>([:])
        func set(_ id: UInt64, _ pid: pid_t) { map.withLock { $0[id] = Connection(pid: pid) } }
        func routed(_ id: UInt64, connect: PolicyEvent, server: pid_t?) {
            map.withLock {
                $0[id, default: Connection(pid: pid_t(connect.pid ?? 0))].connect = connect
                $0[id]?.server = server
            }
        }
        func pid(_ id: UInt64) -> pid_t? { map.withLock { $0[id]?.pid } }
        func connection(_ id: UInt64) -> Connection? { map.withLock { $0[id] } }
        func forget(_ id: UInt64) { _ = map.withLock { $0.removeValue(forKey: id) } }
    }

    /// Has the CA's thread start the broker when it has not been started, and returns at once: the
    /// tracer calls it at the first routed connect and takes that connect's stack meanwhile (the two
    /// were the first HTTPS request's largest costs, one after the other).
    func prepare() {
        let begin = state.withLock { state -> Bool in
            guard case .notStarted = state else { return false }
            state = .starting
            return true
        }
        if begin { wake.signal() }
    }

    /// On the CA's thread: the broker's listeners (the routed connect waits for them), then its threads
    /// and first-use work while that connect returns and the program sends its first bytes.
    private func runStart() {
        let outcome = startBroker()
        let late = state.withLock { state -> TLSBroker? in
            guard case .starting = state else { return try? outcome.get() }  // the run ended meanwhile
            switch outcome {
            case .success(let broker): state = .running(broker)
            case .failure(let error): state = .failed(error.description)
            }
            return nil
        }
        late?.shutdown()
        startup.signal()
        if case .running(let broker) = state.withLock({ $0 }) { broker.warmUp() }
    }

    func listeningPorts() throws(RouterUnavailable) -> BrokerPorts {
        prepare()
        startup.wait()
        switch state.withLock({ $0 }) {
        case .running(let broker): return BrokerPorts(ipv4: broker.ipv4Port, ipv6: broker.ipv6Port)
        case .failed(let reason): throw RouterUnavailable(reason)
        case .notStarted, .starting, .stopped: throw RouterUnavailable("the run is over")
        }
    }

    /// The broker itself: trust store, keys, SwiftNIO threads, listeners; its events become lines.
    private func startBroker() -> Result<TLSBroker, RouterUnavailable> {
        let owners = self.owners, trace = self.trace.withLock { $0 }, counts = self.findingCounts
        do {
            let broker = try TLSBroker.start(configuration, trustFiles: trustFiles()) { event in
                var line = BrokerBridge.line(of: event)
                line.pid = line.connection.flatMap(owners.pid).map(Int64.init)
                let connection = line.connection.flatMap(owners.connection)
                if line.kind.isFailure, let connect = connection?.connect {
                    // A refusal is told where the program asked for the connection.
                    line.tid = connect.tid
                    line.stack = connect.stack
                    counts.add(rule: line.kind.name, action: .refuse)
                }
                try? trace?.write(line)
                guard let id = line.connection, let connection else { return }
                for finding in BrokerBridge.findings(event, id: id, connection.connect,
                                                                     server: connection.server) {
                    try? trace?.write(finding)
                    counts.add(rule: finding.rule, action: finding.action)
                }
                if case .closed = event { owners.forget(id) }
            }
            return .success(broker)
        } catch {
            return .failure(RouterUnavailable("\(error)"))
        }
    }

    /// Signalled once the broker's start ended (started or failed); `wait` returns at once after.
    private final class Startup: Sendable {
        private let done = Mutex(false)
        private let semaphore = DispatchSemaphore(value: 0)
        func signal() {
            done.withLock { $0 = true }
            semaphore.signal()
        }
        func wait() {
            if done.withLock({ $0 }) { return }
            semaphore.wait()
            semaphore.signal()  // any later waiter passes too
        }
    }

    func register(appLocal: SocketEndpoint, destination: SocketEndpoint, connectionID: UInt64, pid: pid_t) {
        guard case .running(let broker) = state.withLock({ $0 }) else { return }
        owners.set(connectionID, pid)
        broker.register(appLocal: SocketAddressKey(ip: appLocal.ip, port: appLocal.port),
                        destination: Destination(ip: destination.ip, port: destination.port),
                        connectionID: connectionID)
    }

    func routed(connectionID: UInt64, connect: PolicyEvent, server: pid_t?) {
        owners.routed(connectionID, connect: connect, server: server)
    }

    /// What a broker event means for the port beyond its `tls` line, as policy lines tied to the
    /// routed connect (its thread, call and stack): TLS answered by the program's own server
    /// (`tls/server-in-app`: on the target its key would live in the trusted component). A
    /// refusal (`verification-failed`: the trusted component's store decides, not the app's own CA
    /// options) is its `tls` line, which carries the connect's stack.
    static func findings(_ event: BrokerEvent, id: UInt64, _ connect: PolicyEvent?, server: pid_t?) -> [PolicyEvent] {
        guard let connect else { return [] }
        func finding(_ rule: String, _ action: EventAction, _ extra: [(String, JSONValue)]) -> PolicyEvent {
            var line = connect
            line.category = "tls"
            line.rule = rule
            line.action = action
            line.errno = nil
            line.audited = nil
            line.extra = extra
            return line
        }
        switch event {
        case .verificationFailed, .handshake: break
        default: return []
        }
        var out: [PolicyEvent] = []
        if let server {
            var extra: [(String, JSONValue)] = [("connection", .uint(id)), ("server_pid", .int(Int64(server)))]
            extra.append(("reason", .string("the program's own server (pid \(server)) answered a TLS handshake with its own key")))
            out.append(finding("server-in-app", .log, extra))
        }
        return out
    }

    func finish() -> [RuleCount] {
        if case .starting = state.withLock({ $0 }) { startup.wait() }
        let previous = state.withLock { state -> State in
            defer { if case .running = state { state = .stopped } }
            return state
        }
        if case .running(let broker) = previous { broker.shutdown() }
        return findingCounts.all
    }

    /// Stops the broker if it was started and removes the per-run CA's files (after the thread
    /// making them is done).
    func shutdown() {
        _ = preparation.wait()
        let previous = state.withLock { state -> State in
            defer { state = .stopped }
            return state
        }
        switch previous {
        case .running(let broker): broker.shutdown()
        case .notStarted: wake.signal()  // the CA's thread ends
        default: break
        }
        Self.remove(configuration.workDirectory)
    }

    /// Removes a per-run CA directory: its two files, then itself; whatever else is in it (nothing
    /// strictrun wrote), through FileManager. The common case costs three system calls, where
    /// FileManager's walk cost about 0.4 ms at the end of every run.
    private static func remove(_ directory: String) {
        let (caPath, bundlePath) = BrokerTrustFiles.paths(workDirectory: directory)
        unlink(caPath)
        unlink(bundlePath)
        if rmdir(directory) != 0, errno != ENOENT { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// A broker event as a `tls` line (the pid is filled in by the caller).
    static func line(of event: BrokerEvent) -> TLSEvent {
        switch event {
        case .handshake(let id, let destination, let sni, let verified, let clientCertificate, let alpn, let ms):
            var details: [(String, JSONValue)] = [
                ("upstream_verified", .bool(verified)), ("client_certificate", .bool(clientCertificate)),
                ("milliseconds", .double(ms)),
            ]
            if let alpn { details.append(("alpn", .string(alpn))) }
            return TLSEvent(connection: id, kind: .handshake, destination: destination.description, sni: sni,
                            details: details)
        case .verificationFailed(let id, let destination, let sni, let reason, let alert, let appAlert, let response):
            var details: [(String, JSONValue)] = [
                ("reason", .string(reason)), ("alert", .string(alert)), ("app_response", .string(response)),
            ]
            if let appAlert { details.append(("app_alert", .string(appAlert))) }
            return TLSEvent(connection: id, kind: .verificationFailed, destination: destination.description, sni: sni,
                            details: details)
        case .upstreamFailed(let id, let destination, let sni, let reason, let alert):
            var details: [(String, JSONValue)] = [("reason", .string(reason))]
            if let alert { details.append(("alert_to_app", .string(alert))) }
            return TLSEvent(connection: id, kind: .upstreamFailed, destination: destination.description, sni: sni,
                            details: details)
        case .appFailed(let id, let destination, let sni, let reason):
            return TLSEvent(connection: id, kind: .appFailed, destination: destination.description, sni: sni,
                            details: [("reason", .string(reason))])
        case .relayed(let id, let destination, let reason):
            return TLSEvent(connection: id, kind: .relayed, destination: destination.description,
                            details: [("reason", .string(reason))])
        case .closed(let id, let destination, let up, let down):
            return TLSEvent(connection: id, kind: .closed, destination: destination.description,
                            details: [("bytes_up", .int(Int64(up))), ("bytes_down", .int(Int64(down)))])
        case .unregistered(let peer):
            return TLSEvent(connection: nil, kind: .unregistered, destination: nil,
                            details: [("peer", .string(peer.description))])
        }
    }
}
