import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import StrictrunBroker
import Synchronization

/// Every event the broker reported, with a way to wait for the ones a test expects.
final class EventLog: Sendable {
    private let events = Mutex<[BrokerEvent]>([])

    func append(_ event: BrokerEvent) { events.withLock { $0.append(event) } }
    var all: [BrokerEvent] { events.withLock { $0 } }

    /// Waits (up to `timeout` seconds) until `count` events satisfy `predicate`; returns those seen.
    @discardableResult
    func wait(for count: Int = 1, timeout: Double = 15, _ predicate: (BrokerEvent) -> Bool) -> [BrokerEvent] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let matching = all.filter(predicate)
            if matching.count >= count || Date() > deadline { return matching }
            usleep(10_000)
        }
    }
}

/// Registers a fixed destination for every connection that reaches the broker unannounced: the stand-in for the
/// tracer when a real client is pointed at the broker directly.
final class AutoRegistrar: Sendable {
    private let state = Mutex<(broker: TLSBroker?, destination: Destination?, nextID: UInt64)>((nil, nil, 1))

    func set(broker: TLSBroker) { state.withLock { $0.broker = broker } }
    func set(destination: Destination?) { state.withLock { $0.destination = destination } }

    func accepted(_ peer: SocketAddressKey) {
        let (broker, destination, id) = state.withLock { state in
            defer { state.nextID += 1 }
            return (state.broker, state.destination, state.nextID)
        }
        guard let broker, let destination else { return }
        broker.register(appLocal: peer, destination: destination, connectionID: id)
    }
}

/// A temporary directory, a trusted test CA, an event loop group for upstream servers and (once started) a broker.
final class Harness {
    let directory: String
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let trustedCA: TestCA
    let events = EventLog()
    let registrar = AutoRegistrar()
    private(set) var broker: TLSBroker!
    private var upstreams: [TestUpstream] = []

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("strictrun-broker-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        trustedCA = try TestCA(name: "Test Trusted CA", directory: directory)
        try trustedCA.writePEM()
    }

    /// Starts the broker trusting only `trustedCA`, auto-registering unannounced connections unless told otherwise.
    @discardableResult
    func startBroker(autoRegister: Bool = true, _ configure: (inout BrokerConfiguration) -> Void = { _ in }) throws -> TLSBroker {
        var configuration = BrokerConfiguration(workDirectory: directory + "/work")
        configuration.trustRoots = .file(trustedCA.pemPath)
        if autoRegister {
            let registrar = self.registrar
            configuration.onUnregisteredAccept = { registrar.accepted($0) }
        }
        configure(&configuration)
        let events = self.events
        broker = try TLSBroker.start(configuration) { events.append($0) }
        registrar.set(broker: broker)
        return broker
    }

    /// An upstream HTTPS (or plain HTTP) server, and every unannounced connection registered toward it.
    func upstream(host: String = "127.0.0.1", tls: TLSConfiguration?, registerAsDestination: Bool = true) throws -> TestUpstream {
        let upstream = try TestUpstream.start(group: group, host: host, tls: tls)
        upstreams.append(upstream)
        if registerAsDestination { registrar.set(destination: Destination(ip: host, port: upstream.port)) }
        return upstream
    }

    deinit {
        broker?.shutdown()
        for upstream in upstreams { upstream.stop() }
        try? group.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Clients

    /// Environment as strictrun's launcher would set it (nothing inherited that would redirect trust).
    func clientEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in ["SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                     "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
            environment[name] = nil
        }
        environment["NO_PROXY"] = "*"
        environment.merge(broker?.appEnvironment ?? [:]) { $1 }
        environment.merge(extra) { $1 }
        return environment
    }

    /// `curl https://localhost:<upstreamPort><path>` with the TCP connection sent to the broker (`--connect-to`),
    /// as the tracer would route it.
    func curl(path: String = "/", upstreamPort: Int, brokerHost: String = "127.0.0.1", brokerPort: Int? = nil,
              urlHost: String = "localhost", extra: [String] = [], environment: [String: String] = [:]) throws -> ProcessResult {
        let port = brokerPort ?? broker.ipv4Port
        let target = brokerHost.contains(":") ? "[\(brokerHost)]" : brokerHost
        let url = urlHost.contains(":") ? "https://[\(urlHost)]:\(upstreamPort)\(path)" : "https://\(urlHost):\(upstreamPort)\(path)"
        return try runProcess(["/usr/bin/curl", "-sS", "--max-time", "20",
                               "--connect-to", "\(urlHost.contains(":") ? "[\(urlHost)]" : urlHost):\(upstreamPort):\(target):\(port)"]
                              + extra + [url], environment: clientEnvironment(environment))
    }

    /// The same three clients straight to the upstream, trusting what the broker trusts (the test CA): what the
    /// app would see without strictrun.
    func directClients(upstreamPort: Int) throws -> (curl: ProcessResult, node: ProcessResult, python: ProcessResult) {
        let trust = ["CURL_CA_BUNDLE": trustedCA.pemPath, "SSL_CERT_FILE": trustedCA.pemPath,
                     "NODE_EXTRA_CA_CERTS": trustedCA.pemPath]
        var environment = clientEnvironment()
        for name in ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] { environment[name] = nil }
        environment.merge(trust) { $1 }
        let curl = try runProcess(["/usr/bin/curl", "-sS", "--max-time", "20", "https://localhost:\(upstreamPort)/"],
                                  environment: environment)
        let node = try runProcess(["/usr/bin/node", "-e", Self.nodeGet, "localhost", String(upstreamPort), "/"],
                                  environment: environment)
        let python = try runProcess([Self.pythonExecutable, "-c", Self.pythonGet, "https://localhost:\(upstreamPort)/"],
                                    environment: environment)
        return (curl, node, python)
    }

    /// The three clients through the broker.
    func brokeredClients(upstreamPort: Int) throws -> (curl: ProcessResult, node: ProcessResult, python: ProcessResult) {
        (try curl(upstreamPort: upstreamPort), try node(), try python())
    }

    static let nodeGet = """
        const https = require('https');
        https.get({host: process.argv[1], port: +process.argv[2], path: process.argv[3], agent: false}, r => {
          let body = ''; r.on('data', d => body += d); r.on('end', () => process.stdout.write(body));
        }).on('error', e => { console.error('ERR', e.code, e.message); process.exit(3); });
        """

    func node(path: String = "/", host: String = "localhost", port: Int? = nil) throws -> ProcessResult {
        try runProcess(["/usr/bin/node", "-e", Self.nodeGet, host, String(port ?? broker.ipv4Port), path],
                       environment: clientEnvironment())
    }

    static let pythonGet = """
        import sys, urllib.request
        try:
            print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode(), end='')
        except Exception as e:
            r = getattr(e, 'reason', e)
            print('ERR', type(r).__name__, getattr(r, 'verify_code', None), r, file=sys.stderr)
            sys.exit(3)
        """

    func python(path: String = "/", host: String = "localhost", port: Int? = nil) throws -> ProcessResult {
        try runProcess([Self.pythonExecutable, "-c", Self.pythonGet, "https://\(host):\(port ?? broker.ipv4Port)\(path)"],
                       environment: clientEnvironment())
    }

    /// The real interpreter behind a possible pyenv shim.
    static let pythonExecutable: String = {
        let result = try? runProcess(["/usr/bin/env", "python3", "-c", "import sys; print(sys.executable)"],
                                     environment: ProcessInfo.processInfo.environment)
        let path = result?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return path.isEmpty ? "/usr/bin/python3" : path
    }()
}

struct ProcessResult: Equatable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion (killed after `timeout` seconds), output through files.
func runProcess(_ argv: [String], environment: [String: String], timeout: Double = 40) throws -> ProcessResult {
    let directory = FileManager.default.temporaryDirectory
    let out = directory.appendingPathComponent("broker-out-\(UUID().uuidString)")
    let err = directory.appendingPathComponent("broker-err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: out)
        try? FileManager.default.removeItem(at: err)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    process.environment = environment
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline { kill(process.processIdentifier, SIGKILL) }
        usleep(5_000)
    }
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

/// A port that was free on `host` a moment ago.
func freePort(host: String = "127.0.0.1") throws -> Int {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { try? group.syncShutdownGracefully() }
    let channel = try ServerBootstrap(group: group).bind(host: host, port: 0).wait()
    let port = channel.localAddress!.port!
    try channel.close().wait()
    return port
}

extension BrokerEvent {
    var connectionID: UInt64? {
        switch self {
        case .handshake(let id, _, _, _, _, _, _), .verificationFailed(let id, _, _, _, _, _, _),
             .upstreamFailed(let id, _, _, _, _), .appFailed(let id, _, _, _), .relayed(let id, _, _),
             .closed(let id, _, _, _):
            return id
        case .unregistered:
            return nil
        }
    }

    var isHandshake: Bool { if case .handshake = self { return true } else { return false } }
    var isClosed: Bool { if case .closed = self { return true } else { return false } }
    var isVerificationFailure: Bool { if case .verificationFailed = self { return true } else { return false } }
}
