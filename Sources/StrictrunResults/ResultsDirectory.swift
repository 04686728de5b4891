import Foundation

/// A results directory that cannot be read (`--baseline`, `merge`, `report`).
public struct ResultsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One line of `runs.jsonl`: the header (first line) or one finished run.
public struct RunsLine: Codable, Sendable {
    public var kind: String
    public var header: RunHeader?
    public var run: RunRecord?

    public init(kind: String, header: RunHeader?, run: RunRecord?) {
        self.kind = kind
        self.header = header
        self.run = run
    }
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
        let (header, records) = try loadRuns(directory)
        return Classifier.results(header: header, records: records, finished: header.started, complete: false,
                                  interrupted: true, wall: WallTimes())
    }

    /// The header and run records of `directory/runs.jsonl` (a truncated last line is skipped).
    public static func loadRuns(_ directory: String) throws(ResultsError) -> (RunHeader, [RunRecord]) {
        let runsPath = directory + "/" + runsFile
        guard let text = try? String(contentsOfFile: runsPath, encoding: .utf8) else {
            throw ResultsError("\(directory): not a conformance output directory (no \(resultsFile) or \(runsFile))")
        }
        var header: RunHeader?
        var records: [RunRecord] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let decoded = try? ResultsCoding.decoder.decode(RunsLine.self, from: Data(line.utf8)) else {
                if number == 0 { throw ResultsError("\(runsPath): line 1 is not a run header") }
                continue
            }
            if let value = decoded.header { header = value }
            if let value = decoded.run { records.append(value) }
        }
        guard let header else { throw ResultsError("\(runsPath): no header line") }
        return (header, records)
    }
}
