import Foundation
import StrictrunResults

/// `strictrun conformance merge`: shards (or any result sets of one suite and profile) into one
/// result set, as if one machine had run them all: runs, traces and logs copied (hard-linked when
/// possible), verdicts and summary recomputed. Checked first (`MergeCheck`): an input set that is
/// not provably one complete run is refused, unless `allowPartial`, which merges it marked incomplete.
public enum ConformanceMerge {
    /// Merge `inputs` into `output`; the merged results. `notes` receives what `allowPartial` let through.
    public static func merge(_ inputs: [String], into output: String, allowPartial: Bool = false,
                             notes: (String) -> Void = { _ in }) throws(ConformanceError) -> ConformanceResults {
        guard !inputs.isEmpty else { throw .merge("nothing to merge") }
        var loaded: [(input: MergeInput, runs: [RunRecord], results: ConformanceResults)] = []
        let outputPath = URL(fileURLWithPath: output).standardizedFileURL.path
        for input in inputs {
            let path = URL(fileURLWithPath: input).standardizedFileURL.path
            guard path != outputPath else { throw .merge("\(input): the output directory cannot be an input") }
            let results = try OutputDirectory.load(path)
            let (header, runs) = try headerAndRuns(path, results: results)
            loaded.append((MergeInput(path: path, header: header, complete: results.complete), runs, results))
        }
        let check = MergeCheck.check(loaded.map(\.input))
        if !check.problems.isEmpty {
            let lines = check.problems.map { "  - \($0)" }.joined(separator: "\n")
            guard allowPartial else {
                throw .merge("refusing to merge (\(check.problems.count) problem\(check.problems.count == 1 ? "" : "s"); "
                             + "--allow-partial merges anyway, marked incomplete):\n\(lines)")
            }
            notes("merge: --allow-partial: merging anyway, marked incomplete:\n\(lines)")
        }

        var wall = WallTimes()
        var interrupted = false
        for (_, _, results) in loaded {
            wall.native += results.wallSeconds.native
            wall.profile += results.wallSeconds.profile
            wall.retries += results.wallSeconds.retries
            interrupted = interrupted || results.interrupted
        }
        let headers = loaded.map(\.input.header)
        var header = headers[0]
        header.shard = nil
        header.jobs = headers.map(\.jobs).max() ?? header.jobs
        header.started = headers.map(\.started).min() ?? header.started
        var planned: [String: PlannedTest] = [:]
        for (input, _, _) in loaded {
            for test in input.header.tests where check.owner[test.id] == input.path { planned[test.id] = test }
        }
        header.tests = planned.values.sorted { $0.id < $1.id }
        for other in headers { header.environment.merge(other.environment) { current, _ in current } }

        let directory = try OutputDirectory(creating: output, header: header)
        var merged: [RunRecord] = []
        for (input, runs, _) in loaded {
            // A duplicated test (--allow-partial) keeps the runs of the input that planned it first.
            for record in runs where check.owner[record.test] == input.path {
                var copy = record
                copy.log = try copyFile(record.log, from: input.path, into: output)
                copy.trace = try copyFile(record.trace, from: input.path, into: output)
                try directory.append(copy)
                merged.append(copy)
            }
        }
        var results = Classifier.results(header: header, records: merged, finished: ResultsCoding.timestamp(),
                                         complete: check.problems.isEmpty, interrupted: interrupted, wall: wall,
                                         mergedFrom: headers.indices.map { loaded[$0].input.path })
        if !check.problems.isEmpty { results.mergeProblems = check.problems.map(\.description) }
        if !check.missingTests.isEmpty { results.missingTests = check.missingTests }
        try directory.finish(results)
        return results
    }

    /// The header and records of a result set: `runs.jsonl` when present, else rebuilt from
    /// `results.json` (which holds every run).
    private static func headerAndRuns(_ path: String, results: ConformanceResults) throws(ConformanceError) -> (RunHeader, [RunRecord]) {
        if FileManager.default.fileExists(atPath: path + "/" + OutputDirectory.runsFile) {
            return try OutputDirectory.loadRuns(path)
        }
        let header = RunHeader(
            schema: results.schema, suite: results.suite, profile: results.profile,
            profileReference: results.profileReference, profileSHA256: results.profileSHA256,
            strictrun: results.strictrun, runtimeVersion: results.runtimeVersion, started: results.started,
            jobs: results.jobs, retries: results.retries, shard: results.shard, environment: results.environment,
            tests: results.tests.map {
                PlannedTest(id: $0.id, path: $0.path, flags: $0.flags, group: $0.group, serial: $0.serial, timeout: 0)
            })
        let runs = results.tests.flatMap { ($0.native?.attempts ?? []) + ($0.profile?.attempts ?? []) }
        return (header, runs)
    }

    /// Copy (or hard-link) an input's file into the merged directory, at the same relative path.
    /// Absolute paths (a reused baseline's logs) stay where they are.
    private static func copyFile(_ relative: String?, from input: String, into output: String) throws(ConformanceError) -> String? {
        guard let relative, !relative.hasPrefix("/") else { return relative }
        let source = input + "/" + relative
        let destination = output + "/" + relative
        let manager = FileManager.default
        guard manager.fileExists(atPath: source) else { return relative }
        do {
            try manager.createDirectory(atPath: URL(fileURLWithPath: destination).deletingLastPathComponent().path,
                                        withIntermediateDirectories: true)
            if manager.fileExists(atPath: destination) { try manager.removeItem(atPath: destination) }
            do {
                try manager.linkItem(atPath: source, toPath: destination)
            } catch {
                try manager.copyItem(atPath: source, toPath: destination)
            }
        } catch {
            throw .merge("cannot copy \(source) to \(destination): \(error.localizedDescription)")
        }
        return relative
    }
}
