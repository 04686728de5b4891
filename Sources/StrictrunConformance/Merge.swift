import Foundation
import StrictrunResults

/// `strictrun conformance merge`: shards (or any result sets of one suite and profile) into one
/// result set, as if one machine had run them all: runs, traces and logs copied (hard-linked when
/// possible), verdicts and summary recomputed.
public enum ConformanceMerge {
    /// Merge `inputs` into `output`; the merged results.
    public static func merge(_ inputs: [String], into output: String) throws(ConformanceError) -> ConformanceResults {
        guard !inputs.isEmpty else { throw .merge("nothing to merge") }
        var headers: [(String, RunHeader)] = []
        var records: [(input: String, record: RunRecord)] = []
        var wall = WallTimes()
        var complete = true
        var interrupted = false
        var owner: [String: String] = [:]
        let outputPath = URL(fileURLWithPath: output).standardizedFileURL.path
        for input in inputs {
            let path = URL(fileURLWithPath: input).standardizedFileURL.path
            guard path != outputPath else { throw .merge("\(input): the output directory cannot be an input") }
            let results = try OutputDirectory.load(path)
            let (header, runs) = try headerAndRuns(path, results: results)
            if let (firstPath, first) = headers.first {
                guard first.suite.name == header.suite.name else {
                    throw .merge("\(input) is suite '\(header.suite.name)', \(firstPath) is '\(first.suite.name)'")
                }
                guard first.profile == header.profile else {
                    throw .merge("\(input) ran under '\(header.profile)', \(firstPath) under '\(first.profile)'")
                }
            }
            for test in header.tests {
                if let other = owner[test.id] {
                    throw .merge("test '\(test.id)' is in both \(other) and \(input): overlapping shards or a repeated input")
                }
                owner[test.id] = input
            }
            headers.append((path, header))
            records += runs.map { (path, $0) }
            wall.native += results.wallSeconds.native
            wall.profile += results.wallSeconds.profile
            wall.retries += results.wallSeconds.retries
            complete = complete && results.complete
            interrupted = interrupted || results.interrupted
        }
        let first = headers[0].1
        var header = first
        header.shard = nil
        header.jobs = headers.map(\.1.jobs).max() ?? first.jobs
        header.started = headers.map(\.1.started).min() ?? first.started
        header.tests = headers.flatMap(\.1.tests).sorted { $0.id < $1.id }
        for (_, other) in headers { header.environment.merge(other.environment) { current, _ in current } }
        if let shards = shardCoverage(headers.map(\.1)), !shards.isEmpty {
            complete = false
            FileHandle.standardError.write(Data("strictrun: merge: shard(s) \(shards) of \(headers[0].1.shard!.count) missing\n".utf8))
        }

        let directory = try OutputDirectory(creating: output, header: header)
        var merged: [RunRecord] = []
        for (input, record) in records {
            var copy = record
            copy.log = try copyFile(record.log, from: input, into: output)
            copy.trace = try copyFile(record.trace, from: input, into: output)
            try directory.append(copy)
            merged.append(copy)
        }
        let results = Classifier.results(header: header, records: merged, finished: ResultsCoding.timestamp(),
                                         complete: complete, interrupted: interrupted, wall: wall,
                                         mergedFrom: headers.map(\.0))
        try directory.finish(results)
        return results
    }

    /// Shard numbers missing when every input is a shard of the same count; nil otherwise.
    private static func shardCoverage(_ headers: [RunHeader]) -> String? {
        let shards = headers.compactMap(\.shard)
        guard shards.count == headers.count, let count = shards.first?.count,
              shards.allSatisfy({ $0.count == count }) else { return nil }
        let missing = (1...count).filter { index in !shards.contains { $0.index == index } }
        return missing.map(String.init).joined(separator: ", ")
    }

    /// The header and records of a result set: `runs.jsonl` when present, else rebuilt from
    /// `results.json` (which holds every run).
    private static func headerAndRuns(_ path: String, results: ConformanceResults) throws(ConformanceError) -> (RunHeader, [RunRecord]) {
        if FileManager.default.fileExists(atPath: path + "/" + OutputDirectory.runsFile) {
            return try OutputDirectory.loadRuns(path)
        }
        let header = RunHeader(
            schema: results.schema, suite: results.suite, profile: results.profile,
            profileReference: results.profileReference, strictrun: results.strictrun, started: results.started,
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
