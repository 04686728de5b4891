import Foundation
import StrictrunTrace
import Testing

/// The first stack in a stripped program (no separate debug file on the machine) is symbolized from
/// what the file has, without elfutils loading libdebuginfod and its ~20 libraries into strictrun
/// (`findLocalDebuginfo`; 5–7 ms on the tracer thread at the first stack of curl before).
@Suite("Stacks without debuginfod")
struct DebuginfoTests {
    @Test("a stripped program's first stack: symbols from .dynsym, no libdebuginfod mapped into strictrun")
    func strippedProgram() throws {
        let perl = "/usr/bin/perl"  // Debian's is stripped, with a .gnu_debuglink
        let dir = try Fixture.temporaryDirectory()
        let tracePath = dir.appendingPathComponent("trace.jsonl").path
        // An empty cache: perl's symbol index is built from the file (a cached one would not ask for debug info).
        var environment = ProcessInfo.processInfo.environment
        environment["STRICTRUN_CACHE_DIR"] = dir.appendingPathComponent("cache").path
        // fork is denied under microkernel (an event with a stack); perl goes on and waits for stdin.
        let run = try PausedRun(["run", "-q", "--profile", "microkernel", "--trace", tracePath, "--", perl, "-e",
                                 "$| = 1; my $p = fork; print \"ready\\n\"; my $x = <STDIN>;"],
                                environment: environment)
        let text = run.firstLine()
        // The event (and its stack) is in the trace before fork returns, so before "ready".
        // Read to the end (a single read of a /proc file returns its first page only).
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(run.pid)/maps"))
        let maps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        try handle.close()
        _ = try run.finish()
        #expect(text == "ready\n")
        #expect(run.process.terminationStatus == 0)
        #expect(maps.contains("libdw"), "strictrun's maps were read whole")
        #expect(!maps.contains("libdebuginfod"), "libdebuginfod was loaded into strictrun")
        let events = try TraceReader.readAll(path: tracePath).events.policyEvents
        let fork = try #require(events.first { $0["rule"]?.stringValue == "fork" })
        let frames = fork["stack"]?.arrayValue ?? []
        let perlFrames = frames.filter { $0["module"]?.stringValue == perl }
        #expect(!perlFrames.isEmpty, "\(frames)")
        #expect(frames.contains { ($0["symbol"]?.stringValue ?? "").hasPrefix("Perl_") }, "\(frames)")
    }
}
