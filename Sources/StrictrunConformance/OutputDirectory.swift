import Foundation
import Synchronization
import StrictrunResults

/// Errors of a conformance run that are not the tests' own: bad input, unusable output.
public enum ConformanceError: Error, Sendable, CustomStringConvertible {
    case suite(SuiteError)
    /// The command of a test cannot be run (not found, not executable).
    case command(String)
    /// No test to run (empty suite, filter or shard).
    case noTests(String)
    case output(String)
    /// A results directory that cannot be read (`--baseline`, `merge`, `report`).
    case results(String)
    case expectations(String)
    case merge(String)
    /// `--resume` of a directory that holds another run (suite, profile, shard, settings).
    case resume(String)
    /// A shard setting (option or environment variable) that cannot be used.
    case shard(ShardSelectionError)

    public var description: String {
        switch self {
        case .suite(let error): "\(error)"
        case .shard(let error): "\(error)"
        case .command(let message), .noTests(let message), .output(let message), .results(let message),
             .expectations(let message), .merge(let message), .resume(let message):
            message
        }
    }
}

/// The output directory of a run (layout in `OUTPUT.md`): `runs.jsonl` grows one line per
/// finished run, so a crash or Ctrl-C loses nothing finished; `results.json`, `junit.xml` and
/// `summary.md` are written from it at the end.
public final class OutputDirectory: Sendable {
    public let path: String
    private let runs: JSONLinesFile
    /// Holds the directory's lock until `finish`.
    private let lock: Mutex<Int32>

    public static let runsFile = ResultsDirectory.runsFile
    public static let resultsFile = ResultsDirectory.resultsFile
    public static let junitFile = "junit.xml"
    public static let summaryFile = "summary.md"
    /// Locked (`flock`) while a run or merge writes the directory.
    static let lockFile = ".lock"
    /// What a run writes, and all a fresh run removes from a directory it reuses.
    static let ownEntries = [runsFile, resultsFile, junitFile, summaryFile, "traces", "logs", "tmp", "explore"]

    /// Create `path` (or empty a previous run's files from it) and start `runs.jsonl` with `header`.
    public init(creating path: String, header: RunHeader) throws(ConformanceError) {
        self.path = path
        let manager = FileManager.default
        lock = Mutex(try Self.lock(path))
        do {
            for entry in Self.ownEntries where manager.fileExists(atPath: path + "/" + entry) {
                try manager.removeItem(atPath: path + "/" + entry)
            }
            for directory in ["traces", "logs", "tmp"] {
                try manager.createDirectory(atPath: path + "/" + directory, withIntermediateDirectories: true)
            }
        } catch {
            throw .output("\(path): \(error.localizedDescription)")
        }
        guard manager.createFile(atPath: path + "/" + Self.runsFile, contents: nil),
              let handle = FileHandle(forWritingAtPath: path + "/" + Self.runsFile) else {
            throw .output("\(path)/\(Self.runsFile): cannot create")
        }
        runs = JSONLinesFile(path: path + "/" + Self.runsFile, handle: handle)
        try appendLine(RunsLine(kind: "header", header: header, run: nil))
    }

    /// Continue the run in `path` (`--resume`): its files are kept, a last line cut short by a
    /// killed runner is dropped, and a `resume` line is appended; the runs go on after it.
    public init(resuming path: String, at time: String) throws(ConformanceError) {
        self.path = path
        lock = Mutex(try Self.lock(path))
        let runsPath = path + "/" + Self.runsFile
        guard let handle = FileHandle(forUpdatingAtPath: runsPath) else { throw .output("\(runsPath): cannot open") }
        do {
            let data = try handle.readToEnd() ?? Data()
            if let last = data.last, last != 0x0A {
                let keep = (data.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
                try handle.truncate(atOffset: UInt64(keep))
            }
            for directory in ["traces", "logs", "tmp"] {
                try FileManager.default.createDirectory(atPath: path + "/" + directory, withIntermediateDirectories: true)
            }
        } catch {
            throw .output("\(runsPath): \(error.localizedDescription)")
        }
        runs = JSONLinesFile(path: path + "/" + Self.runsFile, handle: handle)
        try appendLine(RunsLine(kind: "resume", header: nil, run: nil, resumed: time))
    }

    /// Create `path` and take its lock: two runs writing one directory would delete each
    /// other's files, so the second is refused. The descriptor holds the lock.
    private static func lock(_ path: String) throws(ConformanceError) -> Int32 {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .output("\(path): \(error.localizedDescription)")
        }
        let descriptor: Int32?
        do {
            descriptor = try ProcessControl.lockFile(path + "/" + Self.lockFile)
        } catch {
            throw .output("\(path): \(error)")
        }
        guard let descriptor else { throw .output("\(path) is being written by another strictrun conformance run") }
        return descriptor
    }


    /// Append one finished run (one `write(2)` of one line).
    public func append(_ record: RunRecord) throws(ConformanceError) {
        try appendLine(RunsLine(kind: "run", header: nil, run: record))
    }

    private func appendLine(_ line: RunsLine) throws(ConformanceError) {
        try runs.append(line, what: "a run record")
    }

    /// `traces/<id>[.retryN].jsonl` or `logs/<id>.<mode>[.retryN].log`, relative, parents created.
    public func relativePath(test id: String, mode: RunMode, attempt: Int, kind: String) -> String {
        let retry = attempt > 1 ? ".retry\(attempt - 1 > 1 ? String(attempt - 1) : "")" : ""
        let name = Self.safeName(id)
        let relative = kind == "trace" ? "traces/\(name)\(retry).jsonl" : "logs/\(name).\(mode.rawValue)\(retry).log"
        let parent = URL(fileURLWithPath: path + "/" + relative).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        return relative
    }

    /// A test id as a relative path: `/` kept (so `parallel/test-x` mirrors the suite), other
    /// unusual characters and `..` replaced.
    static func safeName(_ id: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/")
        let mapped = String(id.map { allowed.contains($0) ? $0 : "_" })
        let parts = mapped.split(separator: "/").map { $0 == ".." || $0 == "." ? "_" : String($0) }
        return parts.isEmpty ? "_" : parts.joined(separator: "/")
    }

    /// Write `results.json`, `junit.xml` and `summary.md` for `results`; remove `tmp/`.
    public func finish(_ results: ConformanceResults) throws(ConformanceError) {
        runs.close()
        defer {
            lock.withLock { descriptor in
                ProcessControl.closeDescriptor(descriptor)
                descriptor = -1
            }
        }
        try Self.writeReports(results, to: path)
        try? FileManager.default.removeItem(atPath: path + "/tmp")
    }

    /// Write the three report files of `results` into `directory`.
    public static func writeReports(_ results: ConformanceResults, to directory: String) throws(ConformanceError) {
        do {
            let json = try ResultsCoding.encoder().encode(results)
            try json.write(to: URL(fileURLWithPath: directory + "/" + resultsFile), options: .atomic)
            try Data(JUnitWriter.xml(results, outputDirectory: directory).utf8).write(to: URL(fileURLWithPath: directory + "/" + junitFile), options: .atomic)
            try Data(SummaryWriter.markdown(results).utf8).write(to: URL(fileURLWithPath: directory + "/" + summaryFile), options: .atomic)
        } catch {
            throw .output("\(directory): cannot write results: \(error.localizedDescription)")
        }
    }

    /// The results in `directory` (see `ResultsDirectory.load`).
    public static func load(_ directory: String) throws(ConformanceError) -> ConformanceResults {
        do { return try ResultsDirectory.load(directory) } catch { throw .results(error.description) }
    }

    /// The header and run records of `directory/runs.jsonl` (see `ResultsDirectory.loadRuns`).
    public static func loadRuns(_ directory: String) throws(ConformanceError) -> (RunHeader, [RunRecord]) {
        do { return try ResultsDirectory.loadRuns(directory) } catch { throw .results(error.description) }
    }
}
