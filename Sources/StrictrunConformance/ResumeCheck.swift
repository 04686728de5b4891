import Foundation
import StrictrunResults

/// What `conformance run --resume DIR` decides (pure, apart from reading `runs.jsonl`): whether
/// DIR holds the same run as the one asked for, and which of its runs count as finished.
public enum ResumeCheck {
    /// The runs file of `directory`, or nil when there is nothing to resume (no `runs.jsonl`:
    /// the run never started, so it starts afresh).
    public static func existingRuns(_ directory: String) throws(ConformanceError) -> RunsFile? {
        guard FileManager.default.fileExists(atPath: directory + "/" + OutputDirectory.runsFile) else { return nil }
        do {
            return try ResultsDirectory.loadRunsFile(directory)
        } catch {
            throw .resume("cannot resume \(directory): \(error)")
        }
    }

    /// Why the run recorded in `existing` is not the one `requested` describes; empty when it is.
    public static func problems(existing: RunHeader, requested: RunHeader) -> [String] {
        var problems: [String] = []
        func compare(_ what: String, _ old: String?, _ new: String?) {
            let (a, b) = (old ?? "(not recorded)", new ?? "(not recorded)")
            if a != b { problems.append("\(what) was \(a), now \(b)") }
        }
        compare("suite", existing.suite.name, requested.suite.name)
        compare("suite file (sha256)", existing.suite.sha256, requested.suite.sha256)
        compare("profile", existing.profile, requested.profile)
        compare("profile file (sha256)", existing.profileSHA256, requested.profileSHA256)
        compare("shard", existing.shard?.description ?? "none (the whole suite)",
                requested.shard?.description ?? "none (the whole suite)")
        compare("strictrun version", existing.strictrun, requested.strictrun)
        compare("runtime version", existing.runtimeVersion, requested.runtimeVersion)
        compare("retries", String(existing.retries), String(requested.retries))
        compare("recorded environment", environment(existing.environment), environment(requested.environment))
        let before = existing.tests.map(\.id)
        let now = requested.tests.map(\.id)
        if before != now {
            let gone = Set(before).subtracting(now).sorted()
            let added = Set(now).subtracting(before).sorted()
            problems.append("the tests differ (\(before.count) then, \(now.count) now"
                            + (gone.isEmpty ? "" : "; no longer: \(gone.prefix(5).joined(separator: ", "))")
                            + (added.isEmpty ? "" : "; new: \(added.prefix(5).joined(separator: ", "))") + ")")
        }
        return problems
    }

    /// The runs to keep: each (test, mode, attempt) once, the first recorded.
    public static func finishedRuns(_ records: [RunRecord]) -> [RunRecord] {
        var seen = Set<String>()
        return records.filter { seen.insert(key($0.test, $0.mode, $0.attempt)).inserted }
    }

    /// The identity of one run.
    static func key(_ test: String, _ mode: RunMode, _ attempt: Int) -> String {
        "\(test)\u{0}\(mode.rawValue)\u{0}\(attempt)"
    }

    private static func environment(_ values: [String: String]) -> String {
        values.isEmpty ? "(none)" : values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}
