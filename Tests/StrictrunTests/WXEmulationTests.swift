import Foundation
import StrictrunTrace
import Testing

/// `wx: emulate` (profile microkernel-jit): unmodified JITs run under strict W^X while
/// strictrun flips their pages, and nothing is ever writable and executable at once.
@Suite("W^X emulation (microkernel-jit)")
struct WXEmulationTests {
    static let workloads = ["loop.js", "functions.js", "gc.js", "regexps.js", "wasm.js", "workers.js", "http.js"]

    /// Runs strictrun while another thread reads `/proc/PID/maps` of every traced process
    /// (pids from the trace as it is written), and returns the writable+executable mappings
    /// it saw and how many maps files it read.
    static func runSampling(profile: String, _ argv: [String]) throws
        -> (result: ProcessResult, trace: [JSONValue], writableExecutable: [String], samples: Int) {
        let dir = try Fixture.temporaryDirectory()
        let tracePath = dir.appendingPathComponent("trace.jsonl").path
        let sampler = MapsSampler(tracePath: tracePath)
        let thread = Thread { sampler.run() }
        thread.start()
        let result = try Fixture.run([Fixture.strictrun, "run", "--profile", profile, "--trace", tracePath, "--"] + argv,
                                     timeout: 300)
        sampler.stop()
        let trace = try TraceReader.readAll(path: tracePath).events
        let (found, samples) = sampler.findings
        return (result, trace, found, samples)
    }

    static func emulation(_ event: JSONValue?) -> (flips: Int64, rewritten: Int64, execFaults: Int64, writeFaults: Int64) {
        let total = event?["wx_emulation_total"]
        return (total?["flips"]?.intValue ?? -1, total?["rewritten"]?.intValue ?? -1,
                total?["exec_faults"]?.intValue ?? -1, total?["write_faults"]?.intValue ?? -1)
    }

    @Test("unmodified node with its JIT gives a bare run's output; no mapping is ever W+X", arguments: workloads)
    func nodeWorkload(script: String) throws {
        let path = Fixture.script("jit/\(script)")
        let bare = try Fixture.run(["/usr/bin/node", path], timeout: 300)
        #expect(bare.status == 0, "bare \(script): \(bare.stderr)")
        #expect(bare.stdout.count > 3)

        let (result, trace, writableExecutable, samples) = try Self.runSampling(profile: "microkernel-jit",
                                                                                ["/usr/bin/node", path])
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(script) under microkernel-jit: exit \(result.status)\n\(result.stderr)")
        #expect(result.stdout == bare.stdout, "\(script): output differs\nbare: \(bare.stdout)\nemulated: \(result.stdout)")
        #expect(writableExecutable == [], "\(script): writable+executable mappings seen: \(writableExecutable)")
        #expect(samples >= 3, "\(script): the sampler read /proc/PID/maps only \(samples) times")

        // V8 asked for W+X (granted RW, logged with its stack) and ran code from flipped pages.
        let rewrites = trace.policyEvents.filter { $0["rule"]?.stringValue == "wx-emulated" }
        #expect(rewrites.count >= 1)
        for event in rewrites.prefix(3) {
            #expect(event["granted"]?.stringValue == "PROT_READ|PROT_WRITE")
            #expect(event["args"]?["prot"]?.stringValue == "PROT_READ|PROT_WRITE|PROT_EXEC")
            #expect((event["stack"]?.arrayValue?.count ?? 0) > 0)
        }
        let counters = Self.emulation(trace.finalExit)
        #expect(counters.rewritten == Int64(rewrites.count) || trace.policyEvents.count > rewrites.count,
                "rewritten \(counters.rewritten) vs \(rewrites.count) events")
        #expect(counters.flips > 0)
        #expect(counters.execFaults > 0)
        #expect(result.stderr.contains("W^X emulation:"), "\(result.stderr)")
    }

    @Test("signals during flips: node --cpu-prof (SIGPROF every ms) gives the same output and writes its profile")
    func profilerSignals() throws {
        let dir = try Fixture.temporaryDirectory()
        let path = Fixture.script("jit/functions.js")
        let bare = try Fixture.run(["/usr/bin/node", path])
        let (result, trace, _) = try Fixture.strictrun(
            profile: "microkernel-jit",
            ["/usr/bin/node", "--cpu-prof", "--cpu-prof-interval", "100", "--cpu-prof-dir", dir.path, path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == bare.stdout)
        let profiles = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".cpuprofile") }
        #expect(profiles.count == 1, "\(profiles)")
        #expect(Self.emulation(trace.finalExit).flips > 0)
    }

    @Test("the slow path (a syscall single-stepped in the thread, no trampoline) flips as well, signals included")
    func slowPath() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["STRICTRUN_WX_SLOW_PATH"] = "1"
        let dir = try Fixture.temporaryDirectory()
        let path = Fixture.script("jit/functions.js")
        let bare = try Fixture.run(["/usr/bin/node", path])
        let (result, trace, _) = try Fixture.strictrun(
            profile: "microkernel-jit",
            ["/usr/bin/node", "--cpu-prof", "--cpu-prof-interval", "100", "--cpu-prof-dir", dir.path, path],
            environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == bare.stdout)
        let total = trace.finalExit?["wx_emulation_total"]
        let flips = total?["flips"]?.intValue ?? 0
        #expect(flips > 0)
        #expect(total?["slow_flips"]?.intValue == flips, "every flip took the slow path: \(String(describing: total))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".cpuprofile") }.count == 1)

        let threads = try Fixture.strictrun(profile: "microkernel-jit", [Fixture.example("wx_threads")],
                                            environment: environment)
        #expect(threads.result.status == 0, "\(threads.result.stderr)")
        #expect(threads.result.stdout.contains("RESULT final-call ok value=100"), "\(threads.result.stdout)")
        #expect((threads.trace.finalExit?["wx_emulation_total"]?["slow_flips"]?.intValue ?? 0) >= 200)
    }

    @Test("the sampler sees V8's W+X code space when nothing emulates it (its negative control)")
    func samplerSeesWriteExecute() throws {
        let (result, _, writableExecutable, samples) = try Self.runSampling(profile: "audit",
                                                                            ["/usr/bin/node", Fixture.script("jit/loop.js")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(samples >= 3)
        #expect(writableExecutable.count >= 1, "no rwx mapping seen in \(samples) samples of node under audit")
    }

    @Test("HotSpot (java -version, a small program) runs with its W+X code cache emulated")
    func java() throws {
        let version = try Fixture.strictrun(profile: "microkernel-jit", ["/usr/bin/java", "-version"])
        #expect(version.result.status == 0, "\(version.result.stderr)")
        #expect(version.result.stderr.contains("OpenJDK"), "\(version.result.stderr)")
        #expect(Self.emulation(version.trace.finalExit).flips > 0)

        let program = ["/usr/bin/java", Fixture.script("jit/Hello.java")]
        let bare = try Fixture.run(program)
        #expect(bare.status == 0, "\(bare.stderr)")
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel-jit", program)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == bare.stdout)
        #expect(result.stdout.hasPrefix("hello 79275"), "\(result.stdout)")
        let counters = Self.emulation(trace.finalExit)
        #expect(counters.rewritten >= 1 && counters.flips > 0 && counters.writeFaults > 0)
        // Under microkernel the same program dies: HotSpot cannot mark its code cache executable.
        let (denied, _, _) = try Fixture.strictrun(profile: "microkernel", program)
        #expect(denied.status != 0)
    }

    @Test("the counters are non-zero for the JIT loop and zero for node --jitless")
    func countersJitlessVersusJIT() throws {
        let path = Fixture.script("jit/loop.js")
        let (jit, jitTrace, _) = try Fixture.strictrun(profile: "microkernel-jit", ["/usr/bin/node", path])
        #expect(jit.status == 0, "\(jit.stderr)")
        let exit = jitTrace.finalExit
        let flips = Self.emulation(exit).flips
        #expect(flips > 0)
        #expect(exit?["wx_emulation"]?["flips"]?.intValue == flips)  // the root's own counters
        #expect((exit?["wx_emulation"]?["flips_per_second"]?.doubleValue ?? 0) > 0)
        let summaryLine = jit.stderr.split(separator: "\n").first { $0.contains("W^X emulation:") }
        #expect(summaryLine?.contains("\(flips) flips") == true, "\(jit.stderr)")

        let (jitless, jitlessTrace, _) = try Fixture.strictrun(profile: "microkernel-jit",
                                                                ["/usr/bin/node", "--jitless", path])
        #expect(jitless.status == 0, "\(jitless.stderr)")
        #expect(jitless.stdout == jit.stdout)
        let none = Self.emulation(jitlessTrace.finalExit)
        #expect(none.flips == 0)
        #expect(none.rewritten == 0)
        #expect(none.execFaults == 0 && none.writeFaults == 0)
        #expect(jitless.stderr.contains("0 W+X requests granted as RW; 0 flips"), "\(jitless.stderr)")
    }

    @Test("an instruction that stores into its own code page ends with the livelock message")
    func livelock() throws {
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel-jit", [Fixture.example("wx_livelock")],
                                                       timeout: 60)
        #expect(!result.timedOut, "the livelock was not detected")
        #expect(result.status == 128 + 9, "\(result.stderr)")
        #expect(results(result.stdout)["mmap-rwx"] == ["ok"])
        #expect(results(result.stdout)["exec-jit"] == nil)
        let events = trace.policyEvents.filter { $0["rule"]?.stringValue == "wx-livelock" }
        #expect(events.count == 1)
        #expect(events.first?["action"]?.stringValue == "kill")
        #expect(events.first?["reason"]?.stringValue?.contains("stores into its own code page") == true)
        let frames = events.first?["stack"]?.arrayValue ?? []
        #expect(frames.contains { $0["symbol"]?.stringValue == "main" }, "\(frames)")
        #expect(result.stderr.contains("stores into its own code page"), "\(result.stderr)")
        #expect(Self.emulation(trace.finalExit).flips == 1)
        #expect(trace.finalExit?["wx_emulation"]?["livelocks"]?.intValue == 1)
    }

    @Test("emulated pages cannot be sealed or remapped under the emulator; the code on them still runs")
    func sealAndRemap() throws {
        let (result, trace, tracePath) = try Fixture.strictrun(profile: "microkernel-jit", [Fixture.example("wx_seal")])
        #expect(result.status == 0, "\(result.stderr)")
        let got = results(result.stdout)
        #expect(got["jit-before"] == ["ok"] && got["jit-after"] == ["ok"])
        #expect(got["seal"] == ["errno=EACCES"] && got["remap"] == ["errno=EACCES"])
        for rule in ["emulated-page-seal", "emulated-page-remap"] {
            #expect(trace.policyEvents.contains { $0["category"]?.stringValue == "wx" && $0["rule"]?.stringValue == rule
                                                  && $0["action"]?.stringValue == "deny" }, "no wx/\(rule) in \(tracePath)")
        }
    }

    @Test("C JIT examples: W+X runs emulated; shared, memfd and /proc/PID/mem side doors stay shut")
    func cExamples() throws {
        let (rwx, rwxTrace, _) = try Fixture.strictrun(profile: "microkernel-jit", [Fixture.example("jit_rwx")])
        #expect(rwx.status == 0, "\(rwx.stderr)")
        #expect(results(rwx.stdout)["mmap-rwx"] == ["ok"])
        #expect(rwx.stdout.contains("RESULT exec-jit ok value=42"), "\(rwx.stdout)")
        let rewrite = rwxTrace.policyEvents.first { $0["rule"]?.stringValue == "wx-emulated" }
        #expect(rewrite?["category"]?.stringValue == "wx")
        #expect(rewrite?["stack"]?.arrayValue?.contains { $0["symbol"]?.stringValue == "jit_map_rwx" } == true)
        let counters = Self.emulation(rwxTrace.finalExit)
        #expect(counters.execFaults == 1 && counters.flips == 1)

        for (name, op) in [("escape_memfd", "memfd-map-rx"), ("escape_shm", "shmat-exec"),
                           ("escape_procmem", "jit-procmem-open"), ("escape_personality", "personality-read-implies-exec")] {
            let (result, trace, _) = try Fixture.strictrun(profile: "microkernel-jit", [Fixture.example(name)])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let got = results(result.stdout)
            let mine = got.first { $0.key.hasPrefix(op) }
            #expect(mine != nil, "\(name) printed no RESULT \(op)*:\n\(result.stdout)")
            #expect(mine?.value.allSatisfy { $0.hasPrefix("errno=") } == true, "\(name): \(result.stdout)")
            #expect(!result.stdout.contains("RESULT exec-jit ok"), "\(name) ran code it should not have:\n\(result.stdout)")
            #expect(trace.policyEvents.count >= 1, "\(name): nothing logged")
        }
    }

    @Test("two threads on one page: the lease lets each finish its access; no livelock is declared")
    func threadsShareAPage() throws {
        let bare = try Fixture.run([Fixture.example("wx_threads")])
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel-jit", [Fixture.example("wx_threads")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == bare.stdout)
        #expect(result.stdout.contains("RESULT final-call ok value=100"), "\(result.stdout)")
        let total = trace.finalExit?["wx_emulation_total"]
        // Every patch is a write fault on a page the runner made executable, and back.
        #expect((total?["write_faults"]?.intValue ?? 0) >= 100)
        #expect((total?["exec_faults"]?.intValue ?? 0) >= 100)
        #expect((total?["lease_waits"]?.intValue ?? 0) > 0)
        #expect(total?["livelocks"]?.intValue == 0)
    }

    @Test("emulated pages are copied on fork: the child runs the parent's JIT code")
    func forkCopiesState() throws {
        let dir = try Fixture.temporaryDirectory()
        let profile = dir.appendingPathComponent("jit-fork.yaml").path
        try """
        name: jit-fork
        extends: microkernel-jit
        process:
          fork: log
        """.write(toFile: profile, atomically: true, encoding: .utf8)
        let (result, trace, _) = try Fixture.strictrun(profile: profile, [Fixture.example("wx_fork")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("RESULT parent-jit ok value=42"), "\(result.stdout)")
        #expect(result.stdout.contains("RESULT child-jit ok value=43"), "\(result.stdout)")
        #expect(result.stdout.contains("RESULT child-status ok value=0"), "\(result.stdout)")
        let exits = trace.filter { $0["type"]?.stringValue == "exit" }
        #expect(exits.count == 2)
        let child = exits.first { $0["final"] == nil }
        // The child wrote its page (a write fault) and executed it (an exec fault).
        #expect((child?["wx_emulation"]?["write_faults"]?.intValue ?? 0) >= 1, "\(String(describing: child))")
        #expect((child?["wx_emulation"]?["exec_faults"]?.intValue ?? 0) >= 1)
    }
}

/// Reads `/proc/PID/maps` of every process a trace names, as fast as it can, until stopped.
final class MapsSampler: @unchecked Sendable {
    private let tracePath: String
    private let lock = NSLock()
    private var running = true
    private var found: [String] = []
    private var samples = 0

    init(tracePath: String) {
        self.tracePath = tracePath
    }

    func stop() {
        lock.withLock { running = false }
        // Let a sample in progress finish.
        usleep(20_000)
    }

    var findings: ([String], Int) { lock.withLock { (found, samples) } }

    func run() {
        var pids: Set<Int> = []
        var traceOffset = 0
        while lock.withLock({ running }) {
            if let data = FileManager.default.contents(atPath: tracePath), data.count > traceOffset {
                let text = String(decoding: data[traceOffset...], as: UTF8.self)
                if let lastNewline = text.lastIndex(of: "\n") {
                    for line in text[..<lastNewline].split(separator: "\n") {
                        if let range = line.range(of: "\"pid\":") {
                            let digits = line[range.upperBound...].prefix { $0.isNumber }
                            if let pid = Int(digits) { pids.insert(pid) }
                        }
                    }
                    traceOffset += text[...lastNewline].utf8.count
                }
            }
            for pid in pids {
                guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8), !maps.isEmpty
                else { continue }
                let bad = maps.split(separator: "\n").filter { line in
                    let perms = line.split(separator: " ").dropFirst().first ?? ""
                    return perms.contains("w") && perms.contains("x")
                }
                lock.withLock {
                    samples += 1
                    found += bad.map { "pid \(pid): \($0)" }
                }
            }
            usleep(1000)
        }
    }
}
