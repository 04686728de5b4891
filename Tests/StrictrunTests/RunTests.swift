import Foundation
import StrictrunTrace
import Testing

/// The core acceptance: real runtimes under the real filter and tracer.
@Suite("strictrun run")
struct RunTests {
    @Test("Node 20 with its JIT: V8's W+X mprotect is denied with EACCES and V8 aborts")
    func nodeJITDenied() throws {
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel", ["/usr/bin/node", "-e", "console.log(1)"])
        // V8's CHECK failure ends in int3: SIGTRAP, 128+5. strictrun passes node's status on.
        #expect(result.status == 133, "stderr: \(result.stderr)")
        #expect(!result.stdout.contains("1"))
        let deny = trace.policyEvents.first {
            $0["syscall"]?.stringValue == "mprotect" && $0["category"]?.stringValue == "wx"
        }
        #expect(deny?["action"]?.stringValue == "deny")
        #expect(deny?["errno"]?.stringValue == "EACCES")
        #expect(deny?["args"]?["prot"]?.stringValue == "PROT_READ|PROT_WRITE|PROT_EXEC")
        #expect(deny?["exe"]?.stringValue == "/usr/bin/node")
        #expect(trace.finalExit?["signal"]?.stringValue == "SIGTRAP")
        #expect(trace.finalExit?["exit_status"]?.intValue == 133)
        #expect(result.stderr.contains("first blocked: pid"))
        #expect(result.stderr.contains("PROT_READ|PROT_WRITE|PROT_EXEC"))
    }

    @Test("node --jitless prints 42 and exits 0; worker_threads run (threads are allowed)")
    func nodeJitless() throws {
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel",
                                                       ["/usr/bin/node", "--jitless", "-e", "console.log(42)"])
        #expect(result.status == 0)
        #expect(result.stdout == "42\n")
        #expect(trace.policyEvents.isEmpty)
        #expect(trace.first?["type"]?.stringValue == "start")
        #expect(trace.contains { $0["type"]?.stringValue == "exec" && $0["exe"]?.stringValue == "/usr/bin/node" })

        let script = """
            const { Worker, isMainThread, parentPort } = require('worker_threads');
            if (isMainThread) {
              let done = 0, sum = 0;
              for (let i = 1; i <= 4; i++) {
                const w = new Worker(__filename);
                w.postMessage(i);
                w.on('message', (v) => { sum += v; if (++done === 4) console.log('sum=' + sum); });
              }
            } else {
              parentPort.once('message', (n) => { parentPort.postMessage(n * 10); process.exit(0); });
            }
            """
        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("workers.js")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let workers = try Fixture.strictrun(profile: "microkernel", ["/usr/bin/node", "--jitless", file.path])
        #expect(workers.result.status == 0, "\(workers.result.stderr)")
        #expect(workers.result.stdout == "sum=100\n")
        #expect(workers.trace.policyEvents.isEmpty)
    }

    @Test("Python: os.fork fails with EPERM (process); subprocess works under microkernel, not under strict")
    func python() throws {
        let fork = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", """
            import os
            try:
                pid = os.fork()
                if pid == 0: os._exit(0)
                print("forked")
            except OSError as e:
                print("errno", e.errno)
            """])
        #expect(fork.result.status == 0)
        #expect(fork.result.stdout == "errno 1\n")
        let event = fork.trace.policyEvents.first
        #expect(event?["category"]?.stringValue == "process")
        #expect(event?["rule"]?.stringValue == "fork")
        #expect(event?["errno"]?.stringValue == "EPERM")
        #expect(event?["args"]?["flags"]?.stringValue?.contains("SIGCHLD") == true)

        let code = "import subprocess; print(subprocess.run(['true']).returncode)"
        let spawn = try Fixture.strictrun(profile: "microkernel", [Fixture.python, "-c", code])
        #expect(spawn.result.status == 0, "\(spawn.result.stderr)")
        #expect(spawn.result.stdout == "0\n")
        #expect(spawn.trace.policyEvents.isEmpty)
        #expect(spawn.trace.contains { $0["type"]?.stringValue == "exec" && $0["exe"]?.stringValue == "/usr/bin/true" })

        let strict = try Fixture.strictrun(profile: "microkernel-strict", [Fixture.python, "-c", code])
        #expect(strict.result.status == 1)
        #expect(strict.result.stderr.contains("PermissionError"))
        #expect(strict.trace.policyEvents.contains {
            $0["category"]?.stringValue == "process" && $0["rule"]?.stringValue == "spawn"
                && $0["action"]?.stringValue == "deny"
        })
    }

    @Test("microkernel-strict denies every exec after the first")
    func execAfterFirst() throws {
        // sh execs itself first (allowed), then `exec /bin/true` is a second exec.
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel-strict",
                                                       ["/bin/sh", "-c", "exec /bin/true"])
        #expect(result.status != 0)
        let exec = trace.policyEvents.first { $0["rule"]?.stringValue == "exec" }
        #expect(exec?["action"]?.stringValue == "deny")
        #expect(exec?["args"]?["path"]?.stringValue == "/bin/true")
        #expect(trace.filter { $0["type"]?.stringValue == "exec" }.count == 1)
    }

    @Test("the i386 int 0x80 example can neither fork nor map W+X, under every enforcing profile")
    func foreignABI() throws {
        for profile in ["microkernel", "microkernel-strict", "apple-jit"] {
            let (result, trace, _) = try Fixture.strictrun(profile: profile, [Fixture.example("int80")])
            let got = results(result.stdout)
            #expect(got["i386-fork"] == ["errno=ENOSYS"])
            #expect(got["i386-mmap-rwx"] == ["errno=ENOSYS"])
            let events = trace.policyEvents
            #expect(events.contains { $0["abi"]?.stringValue == "i386" && $0["syscall"]?.stringValue == "fork"
                && $0["category"]?.stringValue == "escape" && $0["action"]?.stringValue == "deny" })
            #expect(events.contains { $0["syscall"]?.stringValue == "mmap2"
                && $0["args"]?["prot"]?.stringValue == "PROT_READ|PROT_WRITE|PROT_EXEC" })
            // No second process ever existed.
            #expect(!trace.contains { $0["type"]?.stringValue == "process" })
        }
    }

    @Test("`run --help` prints run's help; after `--` the same word is a program's name")
    func runHelp() throws {
        for flag in ["--help", "-h"] {
            let help = try Fixture.run([Fixture.strictrun, "run", flag])
            #expect(help.status == 0 && help.stdout.contains("USAGE: strictrun run"), "\(flag): \(help.stderr)")
        }
        let program = try Fixture.strictrun(profile: "microkernel", ["--help"])
        #expect(program.result.status == 127 && program.result.stderr.contains("--help: command not found"))
    }

    @Test("a missing program exits 127, a non-executable file 126; the trace is still valid")
    func missingAndNotExecutable() throws {
        let missing = try Fixture.strictrun(profile: "microkernel", ["/nonexistent/program"])
        #expect(missing.result.status == 127)
        #expect(missing.result.stderr.contains("/nonexistent/program"))
        #expect(missing.trace.first?["type"]?.stringValue == "start")
        #expect(missing.trace.finalExit?["exit_status"]?.intValue == 127)

        let notFound = try Fixture.strictrun(profile: "microkernel", ["no-such-command-xyz"])
        #expect(notFound.result.status == 127)
        #expect(notFound.result.stderr.contains("command not found"))

        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("data.txt")
        try "not a program\n".write(to: file, atomically: true, encoding: .utf8)
        let notExecutable = try Fixture.strictrun(profile: "microkernel", [file.path])
        #expect(notExecutable.result.status == 126)
        #expect(notExecutable.result.stderr.contains("Permission denied"))
        #expect(notExecutable.trace.finalExit?["exit_status"]?.intValue == 126)

        // Executable bit set but not a valid executable: execve itself fails in the child.
        let garbage = dir.appendingPathComponent("garbage")
        try Data([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0]).write(to: garbage)
        chmod(garbage.path, 0o755)
        let badExec = try Fixture.strictrun(profile: "microkernel", [garbage.path])
        #expect(badExec.result.status == 126, "\(badExec.result.stderr)")
        #expect(badExec.trace.finalExit != nil)
    }

    /// Both ways the child is made: sharing strictrun's memory until its execve (microkernel) and
    /// fork (microkernel-strict sets PR_SET_MDWE, a property of the memory map). strictrun blocks
    /// the signals it forwards and its runtime sets handlers; the program sees none of that.
    @Test("the program starts with no blocked, ignored or caught signal, its argv and environment as given, under both launch paths")
    func cleanStart() throws {
        let marker = "strictrun-\u{e9}-\(getpid())"
        for profile in ["microkernel", "microkernel-strict"] {
            var environment = ProcessInfo.processInfo.environment
            environment["STRICTRUN_TEST_MARKER"] = marker
            let run = try Fixture.strictrun(profile: profile, ["/bin/cat", "/proc/self/status", "/proc/self/environ"],
                                            environment: environment)
            #expect(run.result.status == 0, "\(profile): \(run.result.stderr)")
            let lines = run.result.stdout.split(separator: "\n")
            for field in ["SigBlk", "SigIgn", "SigCgt"] {
                #expect(lines.contains { $0.hasPrefix("\(field):") && $0.hasSuffix("0000000000000000") },
                        "\(profile) \(field): \(run.result.stdout)")
            }
            #expect(run.result.stdout.contains("STRICTRUN_TEST_MARKER=\(marker)\0"), "\(profile): \(run.result.stdout)")
            #expect(run.trace.first?["argv"]?.arrayValue?.last?.stringValue == "/proc/self/environ")
        }
    }

    /// Bytes stay bytes: strictrun's own view of its command line and environment is `String`s
    /// (repaired where not UTF-8, the environment a dictionary); the program gets the originals.
    @Test("argv, the environment (its order too) and a program name that are not UTF-8 reach the program unchanged")
    func bytesStayBytes() throws {
        let dir = try Fixture.temporaryDirectory()
        let trace = dir.appendingPathComponent("t.jsonl").path
        // The program: a copy of echo whose name ends in byte 0xff, run by path.
        let script = """
            name=$(printf 'echo\\377'); cp /bin/echo "$2/$name"
            run() { env -i Z=2 B="$(printf '\\377\\376')" A=1 "$@"; }
            echo bare; run /usr/bin/env | od -An -tx1; run "$2/$name" "$(printf 'x\\377')" "" y | od -An -tx1
            echo under; run "$1" run -q -p microkernel -t "$3" -- /usr/bin/env | od -An -tx1
            run "$1" run -q -p microkernel -t "$3" -- "$2/$name" "$(printf 'x\\377')" "" y | od -An -tx1
            """
        let result = try Fixture.run(["/bin/sh", "-c", script, "sh", Fixture.strictrun, dir.path, trace])
        #expect(result.status == 0, "\(result.stderr)")
        let parts = result.stdout.components(separatedBy: "under\n")
        try #require(parts.count == 2, "\(result.stdout)")
        let bare = parts[0].replacingOccurrences(of: "bare\n", with: "").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let under = parts[1].split(whereSeparator: \.isWhitespace).joined(separator: " ")
        // env -i's three variables first, in their order, byte for byte; the trust variables follow.
        let environment = "5a 3d 32 0a 42 3d ff fe 0a 41 3d 31 0a"
        #expect(bare.hasPrefix(environment), "\(bare)")
        #expect(under.hasPrefix(environment), "\(under)")
        // echo's output: x\xff, an empty word, y.
        let echoed = "78 ff 20 20 79 0a"
        #expect(bare.hasSuffix(echoed) && under.hasSuffix(echoed), "bare: \(bare)\nunder: \(under)")
    }

    @Test("SIGINT/SIGTERM sent to strictrun reach the program; the trace ends with its exit")
    func signalsForwarded() throws {
        for (signal, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")] {
            let dir = try Fixture.temporaryDirectory()
            let tracePath = dir.appendingPathComponent("trace.jsonl").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Fixture.strictrun)
            process.arguments = ["run", "-q", "--profile", "microkernel", "--trace", tracePath, "--",
                                 "/bin/sleep", "30"]
            try process.run()
            // Wait until the program runs (its exec line is in the trace).
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if let text = try? String(contentsOfFile: tracePath, encoding: .utf8), text.contains("\"exec\"") { break }
                usleep(20_000)
            }
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            #expect(process.terminationStatus == 128 + signal)
            let trace = try TraceReader.readAll(path: tracePath)
            #expect(trace.problems.malformedLines.isEmpty && !trace.problems.truncatedLastLine)
            #expect(trace.events.finalExit?["signal"]?.stringValue == name)
        }
    }

    @Test("Ctrl-C on a terminal: the program gets exactly one SIGINT, strictrun exits with its status, the trace closes")
    func controlC() throws {
        let dir = try Fixture.temporaryDirectory()
        let tracePath = dir.appendingPathComponent("trace.jsonl").path
        // A program that counts SIGINTs for a moment, then exits with the count.
        let program = "import signal,time,sys\nn=[0]\ndef h(*a): n[0]+=1\nsignal.signal(signal.SIGINT,h)\n"
            + "print('ready',flush=True)\ntime.sleep(1.5)\nsys.exit(10+n[0])\n"
        let driver = """
            import os, pty, sys, time
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], sys.argv[1:])
            buf = b''
            while b'ready' not in buf:
                buf += os.read(fd, 1024)
            os.write(fd, b'\\x03')
            while True:
                try:
                    if not os.read(fd, 1024): break
                except OSError:
                    break
            _, status = os.waitpid(pid, 0)
            print(os.waitstatus_to_exitcode(status))
            """
        let result = try Fixture.run([Fixture.python, "-c", driver, Fixture.strictrun, "run", "-q",
                                      "--profile", "microkernel", "--trace", tracePath, "--",
                                      Fixture.python, "-c", program], timeout: 60)
        // One SIGINT (from the terminal), not two: strictrun did not forward the tty's.
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "11", "\(result.stderr)")
        let trace = try TraceReader.readAll(path: tracePath)
        #expect(trace.events.finalExit?["code"]?.intValue == 11)
    }

    @Test("strictrun run with no program, and an unknown profile, fail with 125 before anything runs")
    func usageErrors() throws {
        let none = try Fixture.run([Fixture.strictrun, "run", "--profile", "microkernel"])
        #expect(none.status == 125)
        let dir = try Fixture.temporaryDirectory()
        let tracePath = dir.appendingPathComponent("t.jsonl").path
        let unknown = try Fixture.run([Fixture.strictrun, "run", "--profile", "no-such-profile", "--trace", tracePath,
                                       "--", "/bin/true"])
        #expect(unknown.status == 125)
        #expect(unknown.stderr.contains("no-such-profile"))
        #expect(!FileManager.default.fileExists(atPath: tracePath), "nothing may run with a bad profile")
    }
}
