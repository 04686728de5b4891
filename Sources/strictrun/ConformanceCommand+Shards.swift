import Foundation
import StrictrunConformance
import StrictrunResults

/// The shard of a `conformance run` from its options and the sharding engines' environment
/// (Bazel, Kubernetes Indexed Jobs, a CI matrix's `STRICTRUN_SHARD`), and Bazel's side of the
/// contract: the shard status file and `XML_OUTPUT_FILE`.
extension ConformanceCommand.RunSuite {
    /// Narrow `tests` to this run's shard (exit 2 on a bad setting); the shard, as recorded.
    func selectShard(_ tests: inout [PlannedTest], environment: [String: String]) -> Shard? {
        let choice: ShardChoice?
        do {
            choice = try ShardSelection.resolve(option: shard, shardCount: shardCount, environment: environment)
        } catch {
            Environment.fail("\(error)", status: 2)
        }
        guard let choice else {
            if balanceFrom != nil {
                Environment.fail("--balance-from needs a shard: --shard K/N, \(ShardSelection.strictrunShard), "
                                 + "Bazel's \(ShardSelection.bazelTotal) or a Kubernetes \(ShardSelection.kubernetesIndex)",
                                 status: 2)
            }
            return nil
        }
        if !choice.ignored.isEmpty {
            Environment.note("shard \(choice.shard) from \(choice.shard.source ?? "--shard"); ignored: "
                             + choice.ignored.joined(separator: ", "))
        }
        var durations: TestDurations?
        if let balanceFrom {
            do {
                durations = try TestDurations.load(URL(fileURLWithPath: balanceFrom).standardizedFileURL.path)
            } catch {
                Environment.fail("--balance-from: \(error)", status: 2)
            }
        }
        let all = tests.count
        let (recorded, selected) = ShardPlanner.select(tests, shard: choice.shard, durations: durations)
        if selected.isEmpty { Environment.fail("shard \(recorded) has no tests (the suite has \(all))", status: 2) }
        tests = selected
        return recorded
    }

    /// Bazel asks a test that supports sharding to touch `TEST_SHARD_STATUS_FILE`.
    static func touchBazelShardStatus(_ environment: [String: String]) {
        guard let path = environment[ShardSelection.bazelStatusFile], !path.isEmpty else { return }
        if !FileManager.default.fileExists(atPath: path) && !FileManager.default.createFile(atPath: path, contents: nil) {
            Environment.fail("\(ShardSelection.bazelStatusFile)=\(path): cannot create it", status: 2)
        }
    }

    /// Bazel reads a test's JUnit report from `XML_OUTPUT_FILE`: a copy of `junit.xml`.
    static func writeBazelXML(_ environment: [String: String], directory: String) {
        guard let path = environment[ShardSelection.bazelXMLOutput], !path.isEmpty else { return }
        let source = directory + "/" + OutputDirectory.junitFile
        do {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.copyItem(atPath: source, toPath: path)
        } catch {
            Environment.fail("\(ShardSelection.bazelXMLOutput)=\(path): cannot write the JUnit report: \(error.localizedDescription)",
                             status: 2)
        }
    }
}
