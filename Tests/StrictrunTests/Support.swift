import Foundation
import StrictrunTrace
import Testing

/// What one run of a real process produced.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
}

/// Helpers shared by the tests: paths of the built tools and a process runner.
enum Fixture {
    /// The directory of the test bundle, where SwiftPM also puts `strictrun`.
    static let productsDirectory: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent()

    static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var strictrun: String { productsDirectory.appendingPathComponent("strictrun").path }
    static func example(_ name: String) -> String { repository.appendingPathComponent("Examples/bin/\(name)").path }
    static func script(_ name: String) -> String { repository.appendingPathComponent("Examples/\(name)").path }
    static var profilesDirectory: String { repository.appendingPathComponent("Profiles").path }

    /// The real CPython interpreter (`python3` on PATH may be a pyenv shim that forks).
    static let python: String = {
        let result = try? run(["/usr/bin/env", "python3", "-c", "import sys; print(sys.executable)"])
        let path = result?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return path.isEmpty ? "/usr/bin/python3" : path
    }()

    /// A fresh directory for one test's files.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("strictrun-tests-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Run a real process to completion (killed after `timeout` seconds).
    static func run(_ argv: [String], environment: [String: String]? = nil, timeout: Double = 120,
                    stdin: FileHandle? = nil, directory: URL? = nil) throws -> ProcessResult {
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
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = stdin ?? FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.interrupt()
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(10_000)
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus
                                                                  : process.terminationStatus
        return ProcessResult(status: status,
                             stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                             stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
                             timedOut: timedOut)
    }

    /// `strictrun run --profile P --trace T -- argv`, and the trace it wrote.
    static func strictrun(profile: String, _ argv: [String], extra: [String] = [],
                          environment: [String: String]? = nil, timeout: Double = 120,
                          directory: URL? = nil) throws
        -> (result: ProcessResult, trace: [JSONValue], tracePath: String) {
        let dir = try temporaryDirectory()
        let tracePath = dir.appendingPathComponent("trace.jsonl").path
        let result = try run([strictrun, "run", "--profile", profile, "--trace", tracePath] + extra + ["--"] + argv,
                             environment: environment, timeout: timeout, directory: directory)
        let trace = FileManager.default.fileExists(atPath: tracePath)
            ? try TraceReader.readAll(path: tracePath).events : []
        return (result, trace, tracePath)
    }
}

/// `strictrun run` with the program's stdin and stdout on pipes, for tests that look at strictrun while
/// its program waits: `firstLine()` returns once the program printed a line; closing its stdin
/// (`finish()`) lets it end.
final class PausedRun {
    let process = Process()
    private let output = Pipe(), input = Pipe()
    private(set) var text = ""

    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: Fixture.strictrun)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = output
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// strictrun's pid.
    var pid: Int32 { process.processIdentifier }

    /// What the program printed up to its first newline (all of it if it ended first).
    func firstLine() -> String {
        while !text.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return text
    }

    /// Closes the program's stdin, waits for strictrun; returns everything the program printed.
    func finish() throws -> String {
        try input.fileHandleForWriting.close()
        text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }
}

extension [JSONValue] {
    /// The `policy` events of a trace.
    var policyEvents: [JSONValue] { filter { $0["type"]?.stringValue == "policy" } }
    /// The closing `exit` event.
    var finalExit: JSONValue? { last { $0["type"]?.stringValue == "exit" && $0["final"]?.boolValue == true } }
}

/// The `RESULT op outcome` lines an example printed, keyed by op (outcome without extras).
func results(_ output: String) -> [String: [String]] {
    var out: [String: [String]] = [:]
    for line in output.split(separator: "\n") where line.hasPrefix("RESULT ") {
        let parts = line.split(separator: " ")
        guard parts.count >= 3 else { continue }
        out[String(parts[1]), default: []].append(String(parts[2]))
    }
    return out
}

/// The `EXPECT op profile=outcome …` lines an example printed: op → profile → outcome.
func expectations(_ output: String) -> [String: [String: String]] {
    var out: [String: [String: String]] = [:]
    for line in output.split(separator: "\n") where line.hasPrefix("EXPECT ") {
        let parts = line.split(separator: " ")
        guard parts.count >= 3 else { continue }
        for pair in parts.dropFirst(2) {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(parts[1]), default: [:]][String(kv[0])] = String(kv[1]) }
        }
    }
    return out
}
