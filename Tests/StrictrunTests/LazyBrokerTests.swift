import Foundation
import StrictrunTrace
import Testing

/// The TLS broker starts on the first routed connect, not with the run (issue 17): `microkernel` mediates every
/// TCP stream (issue 19), and a run that opens none has no broker thread and no broker process.
@Suite("Lazy TLS broker")
struct LazyBrokerTests {
    /// What strictrun looked like while the program ran: its threads' names and its child processes.
    struct Snapshot {
        var threads: [String]
        var children: [Int32]
        var programPid: Int32
        var stdout: String
        var status: Int32
        var trace: [JSONValue]
    }

    /// Runs `script` (Python) under `profile`; once it prints `ready`, reads strictrun's threads
    /// (`/proc/PID/task/*/comm`) and children, then lets the program finish (it exits when its stdin closes).
    static func snapshot(profile: String, script: String) throws -> Snapshot {
        let dir = try Fixture.temporaryDirectory()
        let tracePath = dir.appendingPathComponent("trace.jsonl").path
        let run = try PausedRun(["run", "-q", "--profile", profile, "--trace", tracePath, "--", Fixture.python, "-c", script])
        _ = run.firstLine()
        let pid = run.pid
        let taskDir = "/proc/\(pid)/task"
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: taskDir)) ?? []
        let threads = tasks.compactMap {
            try? String(contentsOfFile: "\(taskDir)/\($0)/comm", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let children = tasks.flatMap { task -> [Int32] in
            let list = (try? String(contentsOfFile: "\(taskDir)/\(task)/children", encoding: .utf8)) ?? ""
            return list.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let text = try run.finish()
        let programPid = Int32(text.split(separator: " ").dropFirst().first.map(String.init) ?? "") ?? -1
        let trace = FileManager.default.fileExists(atPath: tracePath) ? try TraceReader.readAll(path: tracePath).events : []
        return Snapshot(threads: threads, children: children, programPid: programPid, stdout: text,
                        status: run.process.terminationStatus, trace: trace)
    }

    /// A Python program that connects a TCP socket to `port` on loopback (nil: opens no TCP stream — a UDP
    /// connect, and a TCP connect to a loopback port nothing listens on, refused),
    /// prints `ready PID CA-FILE-EXISTS`, and waits for its stdin to close.
    static func script(connectTo port: Int?) -> String {
        """
        import os, socket, sys
        if \(port.map(String.init) ?? "None") is None:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(("127.0.0.1", 53))
            gone = socket.socket(); gone.bind(("127.0.0.1", 0)); target = gone.getsockname()[1]; gone.close()
            try:
                socket.create_connection(("127.0.0.1", target)); print("connected?")
            except ConnectionRefusedError:
                pass
        else:
            s = socket.create_connection(("127.0.0.1", \(port.map(String.init) ?? "0")))
        ca = os.environ.get("NODE_EXTRA_CA_CERTS", "")
        print("ready", os.getpid(), os.path.exists(ca), flush=True)
        sys.stdin.read()
        """
    }

    /// The broker's threads: its front (`strictrun-broker-front`, 15 characters of it in `comm`), made with
    /// the listeners before the routed connect returns, and SwiftNIO's, made right after.
    static func brokerThreads(_ snapshot: Snapshot) -> [String] {
        snapshot.threads.filter { $0.hasPrefix("NIO-") || $0.hasPrefix("strictrun-brok") }
    }

    @Test("microkernel: a run that opens no TCP stream (UDP, a refused loopback port) starts no broker; the CA files exist")
    func noBrokerWithoutTLS() throws {
        let snapshot = try Self.snapshot(profile: "microkernel", script: Self.script(connectTo: nil))
        #expect(snapshot.status == 0, "\(snapshot.stdout)")
        #expect(snapshot.stdout.hasPrefix("ready "), "\(snapshot.stdout)")
        #expect(snapshot.stdout.contains(" True"), "the per-run CA is written before the program starts")
        #expect(!snapshot.threads.isEmpty, "strictrun's threads were readable")
        #expect(Self.brokerThreads(snapshot).isEmpty, "broker threads: \(snapshot.threads)")
        #expect(snapshot.children == [snapshot.programPid], "strictrun's only child is the program: \(snapshot.children)")
        let tlsLines = snapshot.trace.filter { $0["type"]?.stringValue == "tls" }
        let tlsEvents = snapshot.trace.policyEvents.filter { $0["category"]?.stringValue == "tls" }
        #expect(tlsLines.count == 0 && tlsEvents.count == 0, "\(tlsLines) \(tlsEvents)")
    }

    @Test("microkernel: the first connect to a TLS port starts the broker (its threads appear)")
    func brokerOnFirstTLSConnect() throws {
        let tls = try TLSFixture()
        let port = try tls.server()
        let profile = try tls.profile(ports: [port])
        let snapshot = try Self.snapshot(profile: profile, script: Self.script(connectTo: port))
        #expect(snapshot.stdout.hasPrefix("ready "), "\(snapshot.stdout)")
        #expect(!Self.brokerThreads(snapshot).isEmpty, "threads: \(snapshot.threads)")
        #expect(snapshot.children == [snapshot.programPid], "the broker is threads of strictrun, no process")
        let routed = snapshot.trace.policyEvents.filter { $0["outcome"]?.stringValue == "routed" }
        #expect(routed.count == 1)
    }

    @Test("the per-run CA directory of a killed run is removed by the next run; a live run's is kept")
    func staleDirectories() throws {
        // A pid that is gone: a process that has exited.
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        // Each user's per-run CA directories are in TMPDIR/strictrun-tls-UID, one per strictrun pid.
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("strictrun-tls-\(getuid())")
        let stale = parent.appendingPathComponent("\(exited.processIdentifier)")
        let live = parent.appendingPathComponent("\(getpid())")  // this test process is alive
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        for directory in [stale, live] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data("-----BEGIN CERTIFICATE-----\n".utf8).write(to: directory.appendingPathComponent("strictrun-ca.pem"))
        }
        defer { try? FileManager.default.removeItem(at: live) }
        let (result, _, _) = try Fixture.strictrun(profile: "microkernel", ["/bin/true"])
        #expect(result.status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale.path), "stale: \(stale.path)")
        #expect(FileManager.default.fileExists(atPath: live.path), "a live run's directory was removed")
    }

    @Test("a per-run CA that cannot be made ends the run before the program's first instruction (exit 125)")
    func unsafeCADirectory() throws {
        // TMPDIR/strictrun-tls-UID writable by others: another user could have made it, so it is not used.
        let temporary = try Fixture.temporaryDirectory()
        let parent = temporary.appendingPathComponent("strictrun-tls-\(getuid())")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o777])
        let marker = temporary.appendingPathComponent("ran")
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = temporary.path
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel", ["/bin/sh", "-c", "echo > \(marker.path)"],
                                                       environment: environment)
        #expect(result.status == 125, "\(result.stderr)")
        #expect(result.stderr.contains("not a directory of this user's alone"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker.path), "the program ran without its trust files")
        #expect(trace.finalExit != nil, "the trace is complete")
    }
}
