import Foundation
import Synchronization
import StrictrunResults

/// `DIR/explore/runs.jsonl`: the header, then one line per finished explore run, each written
/// with one `write(2)` as the run ends. Read back, it is what an interrupted explore resumes from.
final class ExploreJournal: Sendable {
    let path: String
    private let file: JSONLinesFile
    /// Runs already in the file when it was opened, by key.
    let reused: [String: ExploreRunRecord]

    /// Opens (or creates, writing `header`) the journal in `directory`. A journal whose header
    /// names another conformance run or other tests is an error: remove it to start over.
    init(directory: String, header: ExploreHeader) throws(ConformanceError) {
        path = directory + "/" + ExploreResults.runsFile
        var reused: [String: ExploreRunRecord] = [:]
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .output("\(directory): \(error.localizedDescription)")
        }
        if let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty {
            var old: ExploreHeader?
            for line in text.split(separator: "\n") {
                // A line cut short by an interrupt is skipped: its run is made again.
                guard let decoded = try? ResultsCoding.decoder.decode(ExploreLine.self, from: Data(line.utf8)) else { continue }
                if let value = decoded.header { old = value }
                if let run = decoded.run { reused[run.key] = run }
            }
            guard let old, old.schema == exploreSchema else {
                throw .results("\(path): not an explore journal (remove it to start over)")
            }
            guard old.conformance == header.conformance, old.tests == header.tests, old.maxSites == header.maxSites,
                  old.candidates == header.candidates, old.jitProfile == header.jitProfile else {
                throw .results("\(path): written by an explore of another run or with other options "
                               + "(max sites \(old.maxSites), candidates \(old.candidates.joined(separator: ",")), "
                               + "jit \(old.jitProfile ?? "none")); remove it to start over")
            }
            if !text.hasSuffix("\n") {
                // End the cut line so that the next record starts on a line of its own.
                if let end = try? FileHandle(forWritingTo: URL(fileURLWithPath: path)) {
                    _ = try? end.seekToEnd()
                    try? end.write(contentsOf: Data([0x0A]))
                    try? end.close()
                }
            }
        } else {
            guard manager.createFile(atPath: path, contents: nil) else { throw .output("cannot create \(path)") }
        }
        self.reused = reused
        guard let opened = try? FileHandle(forWritingTo: URL(fileURLWithPath: path)) else {
            throw .output("cannot open \(path)")
        }
        file = JSONLinesFile(path: path, handle: opened)
        if reused.isEmpty && (try? String(contentsOfFile: path, encoding: .utf8))?.isEmpty != false {
            try append(ExploreLine(header: header))
        }
    }

    /// Appends one finished run.
    func append(_ record: ExploreRunRecord) throws(ConformanceError) {
        try append(ExploreLine(run: record))
    }

    private func append(_ line: ExploreLine) throws(ConformanceError) {
        try file.append(line, what: "an explore record")
    }

    func close() {
        file.close()
    }
}
