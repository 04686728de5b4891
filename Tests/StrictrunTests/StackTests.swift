import Foundation
import StrictrunTrace
import Testing

/// Stack context on policy events: real programs, real unwinding (libdw), real symbols.
@Suite("Stacks and call sites")
struct StackTests {
    /// The line of `marker` in an example's source.
    static func line(of marker: String, in file: String) throws -> Int {
        let text = try String(contentsOfFile: Fixture.repository.appendingPathComponent("Examples/\(file)").path,
                              encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.firstIndex { $0.contains(marker) }! + 1
    }

    static func frames(_ event: JSONValue?) -> [JSONValue] { event?["stack"]?.arrayValue ?? [] }
    static func symbols(_ event: JSONValue?) -> [String] { frames(event).compactMap { $0["symbol"]?.stringValue } }

    @Test("the C JIT example's deny names its own function with file and line")
    func nativeFileLine() throws {
        let (_, trace, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("jit_rwx")])
        let event = trace.policyEvents.first { $0["category"]?.stringValue == "wx" }
        let own = Self.frames(event).first { $0["symbol"]?.stringValue == "jit_map_rwx" }
        #expect(own?["file"]?.stringValue?.hasSuffix("Examples/jit_rwx.c") == true, "\(String(describing: event))")
        #expect(own?["line"]?.intValue == Int64(try Self.line(of: "STRICTRUN-SITE: mmap-rwx", in: "jit_rwx.c")))
        #expect(own?["module"]?.stringValue == Fixture.example("jit_rwx"))
        #expect(Self.symbols(event).contains("main"))
        #expect(event?["site"]?.stringValue?.count == 16)
        #expect(event?["site_frames"]?.intValue == 5)
    }

    @Test("Node's W+X mprotect: a v8:: frame in /usr/bin/node, every symbol demangled")
    func nodeV8() throws {
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel", ["/usr/bin/node", "-e", "console.log(1)"])
        let event = trace.policyEvents.first { $0["syscall"]?.stringValue == "mprotect" }
        let frames = Self.frames(event)
        #expect(frames.contains { $0["symbol"]?.stringValue?.hasPrefix("v8::") == true
            && $0["module"]?.stringValue == "/usr/bin/node" })
        #expect(frames.contains { $0["symbol"]?.stringValue?.hasPrefix("v8::base::OS::SetPermissions") == true })
        #expect(!Self.symbols(event).contains { $0.hasPrefix("_Z") }, "a mangled name slipped through")
        #expect(frames.count > 10)
        // The summary shows the top site with its first named frames.
        #expect(result.stderr.contains("top wx sites"))
        #expect(result.stderr.contains("v8::base::OS::SetPermissions"))
    }

    @Test("Node spawning a child: the fork event's stack contains uv_spawn")
    func nodeSpawn() throws {
        let (_, trace, _) = try Fixture.strictrun(profile: "microkernel",
                                                  ["/usr/bin/node", "--jitless", Fixture.script("node_spawn.js")])
        let forks = trace.policyEvents.filter { $0["rule"]?.stringValue == "fork" }
        #expect(forks.count == 2)
        for event in forks { #expect(Self.symbols(event).contains("uv_spawn")) }
        // spawnSync and spawn are two call sites.
        #expect(Set(forks.compactMap { $0["site"]?.stringValue }).count == 2)
    }

    @Test("--js-frames: the script's own JS function appears by name")
    func jsFrames() throws {
        let dir = try Fixture.temporaryDirectory()
        let script = dir.appendingPathComponent("porting.js")
        try """
            const cp = require('child_process');
            function portingTargetSpawn() { return cp.spawnSync('/bin/true').status; }
            console.log(portingTargetSpawn());
            """.write(to: script, atomically: true, encoding: .utf8)
        // JS frames need V8's code space (no --jitless): audit logs the W+X instead of denying it.
        let (result, trace, _) = try Fixture.strictrun(profile: "audit", ["/usr/bin/node", script.path],
                                                       extra: ["--js-frames"])
        #expect(result.stdout == "0\n")
        let fork = trace.policyEvents.first { $0["rule"]?.stringValue == "fork" }
        let jit = Self.frames(fork).filter { $0["module"]?.stringValue == "[jit]" }
        #expect(jit.contains { $0["symbol"]?.stringValue?.contains("portingTargetSpawn \(script.path):2") == true },
                "\(jit)")
        // strictrun removes the perf maps it made V8 write, and V8's log is not left in the cwd.
        for event in trace where event["type"]?.stringValue == "exec" {
            let pid = event["pid"]!.intValue!
            #expect(!FileManager.default.fileExists(atPath: "/tmp/perf-\(pid).map"))
        }
    }

    @Test("two runs of one program give the same site for the same call despite ASLR")
    func stableSites() throws {
        let first = try Fixture.strictrun(profile: "microkernel", [Fixture.example("jit_rwx")]).trace.policyEvents
        let second = try Fixture.strictrun(profile: "microkernel", [Fixture.example("jit_rwx")]).trace.policyEvents
        let pc1 = Self.frames(first.first)[0]["pc"]?.stringValue
        let pc2 = Self.frames(second.first)[0]["pc"]?.stringValue
        #expect(pc1 != pc2, "ASLR should move libc")
        #expect(first.first?["site"] == second.first?["site"])
        #expect(first.first?["site"] != nil)
        // A different call is a different site.
        let flip = try Fixture.strictrun(profile: "microkernel-strict", [Fixture.example("jit_flip")]).trace.policyEvents
        #expect(flip.first?["site"] != first.first?["site"])
    }

    @Test("a thread other than main and a forked child get their own stacks")
    func threadAndChild() throws {
        let (result, trace, _) = try Fixture.strictrun(profile: "apple-jit", [Fixture.example("jit_elsewhere")])
        #expect(result.status == 0)
        let events = trace.policyEvents
        #expect(events.count == 2)
        let threadEvent = events.first { Self.symbols($0).contains("thread_map_rwx") }
        let childEvent = events.first { Self.symbols($0).contains("child_map_rwx") }
        #expect(threadEvent != nil && childEvent != nil, "\(events)")
        #expect(Self.symbols(threadEvent).contains("start_thread"))
        #expect(!Self.symbols(threadEvent).contains("child_map_rwx"))
        #expect(threadEvent?["tid"] != threadEvent?["pid"], "the thread's own tid")
        let root = trace.first { $0["type"]?.stringValue == "exec" }?["pid"]
        #expect(childEvent?["pid"] != root, "the child's own pid")
        #expect(trace.contains { $0["type"]?.stringValue == "process" && $0["pid"] == childEvent?["pid"] })
        let line = Int64(try Self.line(of: "STRICTRUN-SITE: child-mmap-rwx", in: "jit_elsewhere.c"))
        #expect(Self.frames(childEvent).contains { $0["symbol"]?.stringValue == "child_map_rwx" && $0["line"]?.intValue == line })
    }

    @Test("the per-site cap: after N events of a site, later ones carry the site but no stack")
    func siteCap() throws {
        // 12 denied forks from one call site, cap 5.
        let code = "import os\nfor i in range(12):\n    try: os.fork()\n    except OSError: pass\n"
        let (_, trace, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", code],
                                                  extra: ["--site-cap", "5"])
        let forks = trace.policyEvents.filter { $0["rule"]?.stringValue == "fork" }
        #expect(forks.count == 12)
        #expect(Set(forks.compactMap { $0["site"]?.stringValue }).count == 1)
        #expect(forks.prefix(5).allSatisfy { !Self.frames($0).isEmpty })
        #expect(forks.dropFirst(5).allSatisfy { $0["stack"] == .null && $0["stack_omitted"] != nil })
        let counts = trace.finalExit?["counts"]?.arrayValue?.first { $0["rule"]?.stringValue == "fork" }
        #expect(counts?["count"]?.intValue == 12)
    }

    @Test("--no-stacks and --stack-depth")
    func options() throws {
        let none = try Fixture.strictrun(profile: "microkernel", [Fixture.example("jit_rwx")], extra: ["--no-stacks"])
        #expect(none.trace.policyEvents.first?["stack"] == .null)
        let shallow = try Fixture.strictrun(profile: "microkernel", [Fixture.example("jit_rwx")],
                                            extra: ["--stack-depth", "2"])
        #expect(Self.frames(shallow.trace.policyEvents.first).count == 2)
    }
}
