import Foundation

/// A results directory that cannot be read (`--baseline`, `merge`, `report`).
public struct ResultsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One line of `runs.jsonl`: the header (first line), one finished run, or the time a
/// `--resume` picked the run up again (`kind: resume`).
public struct RunsLine: Codable, Sendable {
    public var kind: String
    public var header: RunHeader?
    public var run: RunRecord?
    /// When `kind` is `resume`: the time the run was resumed.
    public var resumed: String?

    public init(kind: String, header: RunHeader?, run: RunRecord?, resumed: String? = nil) {
        self.kind = kind
        self.header = header
        self.run = run
        self.resumed = resumed
    }
}

/// What `runs.jsonl` holds: the header, the finished runs, and the times it was resumed.
public struct RunsFile: Sendable {
    public var header: RunHeader
    public var records: [RunRecord]
    public var resumed: [String]
}

/// Reading a conformance output directory (layout in the conformance docs' `OUTPUT.md`): what
/// `report`, `merge` and `--baseline` need, without the runner.
public enum ResultsDirectory {
    public static let runsFile = "runs.jsonl"
    public static let resultsFile = "results.json"

    /// The results in `directory`: `results.json`, or, when a run died before writing it, the
    /// results rebuilt from `runs.jsonl` (marked incomplete).
    public static func load(_ directory: String) throws(ResultsError) -> ConformanceResults {
        let resultsPath = directory + "/" + resultsFile
        if FileManager.default.fileExists(atPath: resultsPath) {
            let results: ConformanceResults
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: resultsPath))
                results = try ResultsCoding.decoder.decode(ConformanceResults.self, from: data)
            } catch {
                throw ResultsError("\(resultsPath): not a strictrun conformance result: \(error)")
            }
            guard results.schema == conformanceSchema else {
                throw ResultsError("\(resultsPath): schema '\(results.schema)', expected '\(conformanceSchema)'")
            }
            return results
        }
        let file = try loadRunsFile(directory)
        var results = Classifier.results(header: file.header, records: file.records, finished: file.header.started,
                                         complete: false, interrupted: true, wall: WallTimes())
        if !file.resumed.isEmpty { results.resumed = file.resumed }
        return results
    }

    /// The header and run records of `directory/runs.jsonl` (a truncated last line is skipped).
    public static func loadRuns(_ directory: String) throws(ResultsError) -> (RunHeader, [RunRecord]) {
        let file = try loadRunsFile(directory)
        return (file.header, file.records)
    }

    /// Everything `directory/runs.jsonl` holds (a truncated last line is skipped).
    public static func loadRunsFile(_ directory: String) throws(ResultsError) -> RunsFile {
        let runsPath = directory + "/" + runsFile
        guard let text = try? String(contentsOfFile: runsPath, encoding: .utf8) else {
            throw ResultsError("\(directory): not a conformance output directory (no \(resultsFile) or \(runsFile))")
        }
        var header: RunHeader?
        var records: [RunRecord] = []
        var resumed: [String] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let decoded = try? ResultsCoding.decoder.decode(RunsLine.self, from: Data(line.utf8)) else {
                if number == 0 { throw ResultsError("\(runsPath): line 1 is not a run header") }
                continue
            }
            if let value = decoded.header { header = value }
            if let value = decoded.run { records.append(value) }
            if let value = decoded.resumed { resumed.append(value) }
        }
        guard let header else { throw ResultsError("\(runsPath): no header line") }
        return RunsFile(header: header, records: records, resumed: resumed)
    }
}
