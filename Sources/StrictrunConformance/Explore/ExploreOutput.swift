import Foundation
import StrictrunReport
import StrictrunResults

/// What an explore writes: `explore/explore.json`, `explore/summary.md`, `explore/plan.sarif`,
/// and the conformance run's `results.json`, `junit.xml` and `summary.md` again with explore's
/// verdicts as the attribution (the first blocked call kept in its own column) and the explore
/// section at the end of `summary.md`.
public enum ExploreOutput {
    public static func write(_ explore: ExploreResults, conformance: ConformanceResults,
                             directory: String) throws(ConformanceError) {
        let base = directory + "/" + ExploreResults.directory
        do {
            try ResultsCoding.encoder().encode(explore).write(to: URL(fileURLWithPath: base + "/" + ExploreResults.file),
                                                               options: .atomic)
            let section = ExploreRenderer.markdown(explore).joined(separator: "\n") + "\n"
            try Data(("# explore of \(conformance.suite.name) under \(conformance.profile)\n\n" + section).utf8)
                .write(to: URL(fileURLWithPath: base + "/summary.md"), options: .atomic)
            try SARIFWriter.sarif(explore, strictrunVersion: conformance.strictrun)
                .write(to: URL(fileURLWithPath: base + "/" + ExploreResults.sarifFile), options: .atomic)
            let updated = conformance.withExplore(explore)
            try OutputDirectory.writeReports(updated, to: directory)
            let summary = directory + "/" + OutputDirectory.summaryFile
            let text = (try? String(contentsOfFile: summary, encoding: .utf8)) ?? ""
            try Data((text + "\n" + section).utf8).write(to: URL(fileURLWithPath: summary), options: .atomic)
        } catch let error as ConformanceError {
            throw error
        } catch {
            throw .output("\(base): cannot write the explore results: \(error)")
        }
    }
}
