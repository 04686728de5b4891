import Foundation
import StrictrunConformance
import StrictrunResults
import Testing

/// What one run of a real process produced.
struct Outcome: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Paths of the built tools and the repository, and a process runner (real processes only).
enum Paths {
    /// The directory of the test bundle, where SwiftPM also puts `strictrun`.
    static let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var strictrun: String { products.appendingPathComponent("strictrun").path }
    static func repo(_ relative: String) -> String { repository.appendingPathComponent(relative).path }
    static var nodeSuite: String { repo("Suites/node-fixtures.yaml") }
    static var nodeFixtures: String { repo("Tests/Fixtures/node-suite") }

    /// The real CPython interpreter (`python3` on PATH may be a pyenv shim that forks).
    static let python: String = {
        let result = try? run(["/usr/bin/env", "python3", "-c", "import sys; print(sys.executable)"])
        let path = result?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return path.isEmpty ? "/usr/bin/python3" : path
    }()

    /// A fresh directory for one test's files.
    static func temporaryDirectory(_ name: String = "t") throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("strictrun-report-tests-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// Run a real process to its end (SIGKILLed after `timeout` seconds); environment: ours plus `environment`.
    static func run(_ argv: [String], environment: [String: String] = [:], directory: String? = nil,
                    timeout: Double = 170) throws -> Outcome {
        let dir = FileManager.default.temporaryDirectory
        let outURL = dir.appendingPathComponent("out-\(UUID().uuidString)")
        let errURL = dir.appendingPathComponent("err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus
                                                                  : process.terminationStatus
        return Outcome(status: status, stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }

    /// `strictrun ARGS…`.
    static func strictrun(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                          timeout: Double = 170) throws -> Outcome {
        try run([strictrun] + arguments, environment: environment, directory: directory, timeout: timeout)
    }

    /// The results of a conformance output directory.
    static func results(_ directory: String) throws -> ConformanceResults {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/results.json"))
        return try JSONDecoder().decode(ConformanceResults.self, from: data)
    }

    /// Copy a directory tree (the fixtures, to change a test).
    static func copyTree(_ source: String, to destination: String) throws {
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.copyItem(atPath: source, toPath: destination)
    }
}

/// The environment the Node fixture suite runs with: V8's JIT off (see Suites/node-fixtures.yaml).
let jitless = ["NODE_OPTIONS": "--jitless"]

/// One run of the Node fixture suite under `microkernel`, shared by the tests that only read it.
struct NodeSuiteRun: Sendable {
    var directory: String
    var outcome: Outcome
    var results: ConformanceResults

    static let shared: Result<NodeSuiteRun, Failure> = {
        do {
            let directory = try Paths.temporaryDirectory("node-suite") + "/out"
            let outcome = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--profile", "microkernel",
                                               "--jobs", "2", "--out", directory], environment: jitless)
            guard outcome.status == 0 else {
                return .failure(Failure(message: "conformance run exited \(outcome.status): \(outcome.stdout)\n\(outcome.stderr)"))
            }
            return .success(NodeSuiteRun(directory: directory, outcome: outcome, results: try Paths.results(directory)))
        } catch {
            return .failure(Failure(message: "\(error)"))
        }
    }()

    /// The shared run, or a test failure.
    static func get() throws -> NodeSuiteRun { try shared.get() }
}

/// A setup step that failed, with its reason.
struct Failure: Error, Sendable, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The value of `attribute="…"` of every tag whose text contains `marker`, in order.
func attributeValues(_ attribute: String, in text: Substring, marker: String) -> [String] {
    var values: [String] = []
    var rest = text[...]
    while let tagStart = rest.range(of: "<") {
        guard let tagEnd = rest[tagStart.upperBound...].range(of: ">") else { break }
        let tag = rest[tagStart.lowerBound..<tagEnd.upperBound]
        if tag.contains(marker), let value = tag.range(of: "\(attribute)=\"") {
            let start = value.upperBound
            if let end = tag[start...].firstIndex(of: "\"") { values.append(String(tag[start..<end])) }
        }
        rest = rest[tagEnd.upperBound...]
    }
    return values
}

/// The text between `start` and the first `end` after it.
func section(_ text: String, from start: String, to end: String) -> Substring? {
    guard let open = text.range(of: start), let close = text[open.upperBound...].range(of: end) else { return nil }
    return text[open.lowerBound..<close.upperBound]
}

/// A small trace: a routed connect (logged), a TLS verification failure from the broker, a denied
/// fork, and the final exit line.
func tlsTrace() -> String {
    [
        #"{"v":1,"seq":1,"time":"2026-01-01T00:00:00.000001Z","type":"start","profile":"microkernel","profile_files":[],"mode":"enforce","argv":["app"],"cwd":"/","strictrun":"0.1.0","filter_instructions":1}"#,
        #"{"v":1,"seq":2,"time":"2026-01-01T00:00:00.000002Z","type":"policy","pid":7,"tid":7,"exe":"/usr/bin/app","syscall":"connect","nr":42,"abi":"x86_64","args":{"fd":3,"addr":"93.184.216.34:443"},"category":"tls","rule":"tls-port","action":"route","stack":null,"site":null}"#,
        #"{"v":1,"seq":3,"time":"2026-01-01T00:00:00.000003Z","type":"tls","pid":7,"connection":1,"event":"verification-failed","destination":"93.184.216.34:443","sni":"example.com","reason":"certificate expired","alert":"certificate_expired","app_response":"alert"}"#,
        #"{"v":1,"seq":4,"time":"2026-01-01T00:00:00.000004Z","type":"policy","pid":7,"tid":7,"exe":"/usr/bin/app","syscall":"clone","nr":56,"abi":"x86_64","args":{"flags":"SIGCHLD"},"category":"process","rule":"fork","action":"deny","errno":"EPERM","stack":null,"site":null}"#,
        #"{"v":1,"seq":5,"time":"2026-01-01T00:00:00.000005Z","type":"exit","pid":7,"exe":"/usr/bin/app","code":1,"exit_status":1,"final":true,"processes":1,"counts":[]}"#,
    ].joined(separator: "\n") + "\n"
}
