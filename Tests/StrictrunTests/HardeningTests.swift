import Foundation
import StrictrunPolicy
import StrictrunSandbox
import StrictrunTrace
import Testing

/// Faults and floods: nothing escapes, nothing is lost, nothing runs unconfined.
@Suite("Faults and floods")
struct HardeningTests {
    /// Whether a process still exists (and is not a zombie).
    static func alive(_ pid: Int64) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        return !status.contains("State:\tZ")
    }

    @Test("strictrun killed with SIGKILL: the program and its children die; the trace so far is intact")
    func sigkill() throws {
        let dir = try Fixture.temporaryDirectory()
        let tracePath = dir.appendingPathComponent("trace.jsonl").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixture.strictrun)
        // apple-jit allows fork: the shell starts two sleeping children.
        process.arguments = ["run", "-q", "--profile", "apple-jit", "--trace", tracePath, "--",
                             "/bin/sh", "-c", "sleep 60 & sleep 60 & wait"]
        try process.run()
        var pids: [Int64] = []
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let events = (try? TraceReader.readAll(path: tracePath).events) ?? []
            pids = events.filter { $0["type"]?.stringValue == "process" }.compactMap { $0["pid"]?.intValue }
            if pids.count >= 2 { break }
            usleep(20_000)
        }
        let root = try TraceReader.readAll(path: tracePath).events.first { $0["type"]?.stringValue == "exec" }?["pid"]?.intValue
        #expect(pids.count >= 2)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // PTRACE_O_EXITKILL: the kernel kills every tracee when the tracer dies.
        let gone = Date().addingTimeInterval(10)
        while Date() < gone && (pids + [root ?? 0]).contains(where: Self.alive) { usleep(20_000) }
        for pid in pids + [root ?? 0] { #expect(!Self.alive(pid), "pid \(pid) survived strictrun") }
        let trace = try TraceReader.readAll(path: tracePath)
        #expect(trace.problems.malformedLines.isEmpty)
        #expect(!trace.problems.truncatedLastLine)
        #expect(trace.events.first?["type"]?.stringValue == "start")
    }

    @Test("one rule tripped 20,000 times: memory stays flat, the cap counts, the summary is right")
    func storm() throws {
        func run(_ n: Int) throws -> (rss: Int, trace: [JSONValue], stderr: String) {
            let dir = try Fixture.temporaryDirectory()
            let tracePath = dir.appendingPathComponent("trace.jsonl").path
            let result = try Fixture.run(["/usr/bin/time", "-f", "MAXRSS %M", Fixture.strictrun, "run",
                                          "--profile", "microkernel", "--trace", tracePath, "--",
                                          Fixture.example("storm"), String(n)], timeout: 600)
            #expect(result.stdout.contains("RESULT storm ok denied=\(n)"))
            let rss = result.stderr.split(separator: "\n").first { $0.hasPrefix("MAXRSS ") }
                .flatMap { Int($0.dropFirst(7)) } ?? 0
            return (rss, try TraceReader.readAll(path: tracePath).events, result.stderr)
        }
        let small = try run(2000)
        let big = try run(20000)
        // Bounded: ten times the events do not need much more memory (KB).
        #expect(big.rss < small.rss + 16 * 1024, "\(small.rss) KB for 2,000 events, \(big.rss) KB for 20,000")
        let events = big.trace.policyEvents
        #expect(events.count == 20000)
        #expect(events.filter { $0["stack"] != .null }.count == 20, "default site cap: 20 full stacks")
        #expect(Set(events.compactMap { $0["site"]?.stringValue }).count == 1)
        let count = big.trace.finalExit?["counts"]?.arrayValue?.first?["count"]?.intValue
        #expect(count == 20000)
        #expect(big.stderr.contains("20000"), "summary counts every call")
    }

    @Test("2,000 threads and 200 children in one run: every event has the pid and tid of its task")
    func crowd() throws {
        let (result, trace, _) = try Fixture.strictrun(profile: "apple-jit", [Fixture.example("crowd"), "2000", "200"],
                                                       timeout: 600)
        #expect(result.stdout.contains("RESULT crowd ok threads=2000 children=200"))
        let printed = Set(result.stdout.split(separator: "\n").filter { $0.hasPrefix("TASK ") }.map { line in
            let parts = line.split(separator: " ")
            return "\(parts[1])/\(parts[2])"
        })
        let logged = trace.policyEvents.map { "\($0["pid"]!.intValue!)/\($0["tid"]!.intValue!)" }
        #expect(printed.count == 2200)
        #expect(logged.count == 2200)
        #expect(Set(logged) == printed)
        #expect(trace.filter { $0["type"]?.stringValue == "process" }.count == 200)
        #expect(trace.filter { $0["type"]?.stringValue == "exit" }.count == 201)
    }

    @Test("disk full while writing the trace: a clear error, status 125, the program is not left running")
    func diskFull() throws {
        let dir = try Fixture.temporaryDirectory()
        let mountPoint = dir.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try Fixture.run(["/bin/mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint])
        try #require(mount.status == 0, "this test mounts a small tmpfs (needs root): \(mount.stderr)")
        defer { _ = try? Fixture.run(["/bin/umount", mountPoint]) }
        let tracePath = mountPoint + "/trace.jsonl"
        let result = try Fixture.run([Fixture.strictrun, "run", "-q", "--profile", "microkernel", "--trace", tracePath,
                                      "--", Fixture.example("storm"), "1000000"], timeout: 300)
        #expect(result.status == 125, "\(result.stderr)")
        #expect(result.stderr.contains("No space left on device"))
        #expect(!result.stdout.contains("RESULT storm ok"), "the program was stopped, not left to finish")
        let pgrep = try Fixture.run(["/usr/bin/pgrep", "-f", Fixture.example("storm") + " 1000000"])
        #expect(pgrep.stdout.isEmpty, "storm still running: \(pgrep.stdout)")
        // What was written is whole lines.
        let trace = try TraceReader.readAll(path: tracePath)
        #expect(trace.problems.malformedLines.isEmpty)
    }

    @Test("a setuid binary gains no privilege under strictrun (no_new_privs)")
    func setuid() throws {
        let dir = try Fixture.temporaryDirectory()
        chmod(dir.path, 0o777)
        let copy = dir.appendingPathComponent("id-setuid").path
        try FileManager.default.copyItem(atPath: "/usr/bin/id", toPath: copy)
        chown(copy, 0, 0)
        chmod(copy, 0o4755)
        let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let native = try Fixture.run(asNobody + [copy])
        try #require(native.stdout.contains("euid=0"), "setuid works natively here: \(native.stdout) \(native.stderr)")
        let trace = dir.appendingPathComponent("t.jsonl").path
        // The profile from a directory nobody may read: the checkout can sit in a 0700 directory
        // (mktemp -d), where strictrun running as nobody cannot look up Profiles/.
        let profile = dir.appendingPathComponent("microkernel.yaml").path
        try FileManager.default.copyItem(atPath: Fixture.profilesDirectory + "/microkernel.yaml", toPath: profile)
        chmod(profile, 0o644)
        let confined = try Fixture.run(asNobody + [Fixture.strictrun, "run", "-q", "--profile", profile,
                                                   "--trace", trace, "--", copy])
        #expect(confined.status == 0, "\(confined.stderr)")
        #expect(confined.stdout.contains("uid=65534"))
        #expect(!confined.stdout.contains("euid=0"), "\(confined.stdout)")
    }
}
