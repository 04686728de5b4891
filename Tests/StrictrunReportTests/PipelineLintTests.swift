import Foundation
import Testing
import Yams

/// The pipeline files of `Examples/ci/` through real linters: `check-jsonschema` with
/// SchemaStore's GitHub workflow schema (PyPI, installed by `make deps` into `.build/lint-tools`),
/// `shellcheck` (Debian) on every script and every workflow `run:`, the Kubernetes manifests parsed
/// with Yams and held to the keys an Indexed Job needs, the Bazel BUILD parsed as Starlark.
@Suite("Examples/ci: the pipeline files pass their linters")
struct PipelineLintTests {
    static let ci = Paths.repo("Examples/ci")

    /// A linter's path; a missing one fails the test (never a skip): `make deps` installs them.
    func tool(_ name: String) throws -> String {
        for candidate in [Paths.repo(".build/lint-tools/bin/\(name)"), "/usr/bin/\(name)", "/usr/local/bin/\(name)"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw Failure(message: "\(name) is not installed: run make deps (shellcheck from Debian, check-jsonschema from PyPI)")
    }

    func yaml(_ path: String) throws -> [Any] {
        Array(try Yams.load_all(yaml: String(contentsOfFile: path, encoding: .utf8)).compactMap { $0 })
    }

    /// shellcheck `script` as bash; the findings, empty when clean.
    func shellcheck(_ script: String, name: String) throws -> String {
        let file = try Paths.temporaryDirectory("shellcheck") + "/" + name.replacingOccurrences(of: "/", with: "_") + ".sh"
        try ("#!/usr/bin/env bash\nset -e\n" + script).write(toFile: file, atomically: true, encoding: .utf8)
        let check = try Paths.run([try tool("shellcheck"), "--shell=bash", file])
        return check.status == 0 ? "" : check.stdout + check.stderr
    }

    @Test("GitHub Actions: the workflow schema accepts it (and refuses a broken copy); every run: passes shellcheck; matrix 1..N")
    func githubActions() throws {
        let workflow = Self.ci + "/github/conformance.yml"
        let checker = try tool("check-jsonschema")
        let valid = try Paths.run([checker, "--builtin-schema", "vendor.github-workflows", workflow])
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        let broken = try Paths.temporaryDirectory("workflow") + "/broken.yml"
        try String(contentsOfFile: workflow, encoding: .utf8).replacingOccurrences(of: "runs-on:", with: "run-on:")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        #expect(try Paths.run([checker, "--builtin-schema", "vendor.github-workflows", broken]).status != 0)

        let document = try #require(try yaml(workflow).first as? [String: Any])
        let jobs = try #require(document["jobs"] as? [String: Any])
        #expect(Set(jobs.keys) == ["build", "shard", "merge"])
        var scripts = 0
        for (jobName, job) in jobs {
            let steps = try #require((job as? [String: Any])?["steps"] as? [[String: Any]], "\(jobName)")
            for (index, step) in steps.enumerated() {
                guard let run = step["run"] as? String else { continue }
                // As actionlint does: an expression becomes a plain word before shellcheck sees it.
                let script = run.replacingOccurrences(of: #"\$\{\{[^}]*\}\}"#, with: "GHA_EXPRESSION", options: .regularExpression)
                let findings = try shellcheck(script, name: "\(jobName)-\(index)")
                #expect(findings.isEmpty, "\(jobName) step \(index): \(findings)")
                scripts += 1
            }
        }
        #expect(scripts >= 3)
        // The matrix is 1..N and every shard says N.
        let shard = try #require(jobs["shard"] as? [String: Any])
        let matrix = try #require(((shard["strategy"] as? [String: Any])?["matrix"] as? [String: Any])?["shard"] as? [Int])
        #expect(matrix == Array(1...matrix.count))
        let variable = try #require((shard["env"] as? [String: Any])?["STRICTRUN_SHARD"] as? String)
        #expect(variable == "${{ matrix.shard }}/\(matrix.count)")
        let mergeSteps = try #require((jobs["merge"] as? [String: Any])?["steps"] as? [[String: Any]])
        let merge = mergeSteps.compactMap { $0["run"] as? String }.joined(separator: "\n")
        #expect(merge.contains("conformance merge") && merge.contains("--format html"))
        #expect(mergeSteps.contains { ($0["with"] as? [String: Any])?["report_paths"] as? String == "merged/junit.xml" })
    }

    @Test("Kubernetes: an Indexed Job whose shard count equals its completions, resuming into the shared volume; a merge job")
    func kubernetes() throws {
        let documents = try yaml(Self.ci + "/kubernetes/conformance-job.yaml").compactMap { $0 as? [String: Any] }
        let job = try #require(documents.first { $0["kind"] as? String == "Job" })
        let claim = try #require(documents.first { $0["kind"] as? String == "PersistentVolumeClaim" })
        #expect(job["apiVersion"] as? String == "batch/v1")
        let spec = try #require(job["spec"] as? [String: Any])
        #expect(spec["completionMode"] as? String == "Indexed")
        let completions = try #require(spec["completions"] as? Int)
        #expect(completions >= 2)
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(["OnFailure", "Never"].contains(pod["restartPolicy"] as? String))
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let command = ((container["command"] as? [String] ?? []) + (container["args"] as? [String] ?? [])).joined(separator: " ")
        #expect(command.contains("strictrun conformance run") && command.contains("$JOB_COMPLETION_INDEX"))
        #expect(command.contains("--resume \"/results/"))
        let environment = (container["env"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
            $0[$1["name"] as? String ?? ""] = $1["value"] as? String
        }
        #expect(environment["STRICTRUN_SHARD_COUNT"] == String(completions), "STRICTRUN_SHARD_COUNT must equal completions")
        let mounts = container["volumeMounts"] as? [[String: Any]] ?? []
        #expect(mounts.contains { $0["mountPath"] as? String == "/results" })
        let claimName = (claim["metadata"] as? [String: Any])?["name"] as? String
        let volumes = pod["volumes"] as? [[String: Any]] ?? []
        #expect(volumes.contains { ($0["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String == claimName })

        let mergeJob = try #require(try yaml(Self.ci + "/kubernetes/merge-job.yaml").first as? [String: Any])
        #expect(mergeJob["kind"] as? String == "Job")
        let mergePod = try #require(((mergeJob["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let mergeContainer = try #require((mergePod["containers"] as? [[String: Any]])?.first)
        let mergeCommand = (mergeContainer["args"] as? [String] ?? []).joined(separator: " ")
        #expect(mergeCommand.contains("strictrun conformance merge /results/index-*"))
        let mergeVolumes = mergePod["volumes"] as? [[String: Any]] ?? []
        #expect(mergeVolumes.contains { ($0["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String == claimName })
        let findings = try Paths.run([try tool("shellcheck"), Self.ci + "/kubernetes/run.sh"])
        #expect(findings.status == 0, "\(findings.stdout)")
    }

    @Test("Bazel: BUILD parses as Starlark with a sharded sh_test whose files exist (a shard_count of 1 is refused); scripts pass shellcheck")
    func bazel() throws {
        let checker = Paths.repo("Tests/Fixtures/ci-lint/check_bazel_build.py")
        let build = Self.ci + "/bazel/BUILD.bazel"
        let check = try Paths.run([Paths.python, checker, build, Paths.repository.path])
        #expect(check.status == 0 && check.stdout.hasPrefix("ok 4"), "\(check.stdout)\(check.stderr)")
        let broken = try Paths.temporaryDirectory("bazel") + "/BUILD.bazel"
        try String(contentsOfFile: build, encoding: .utf8).replacingOccurrences(of: "shard_count = 4", with: "shard_count = 1")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try Paths.run([Paths.python, checker, broken, Paths.repository.path])
        #expect(refused.status == 1 && refused.stdout.contains("shard_count"))
        for script in ["conformance_test.sh", "merge.sh"] {
            let findings = try Paths.run([try tool("shellcheck"), Self.ci + "/bazel/" + script])
            #expect(findings.status == 0, "\(script): \(findings.stdout)")
        }
    }
}
