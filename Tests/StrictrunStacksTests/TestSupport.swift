// Real processes for the StrictrunStacks tests: compile C at test time, spawn with
// posix_spawn, trace with PTRACE_SEIZE from the test's own thread. Every ptrace call of a test
// is made from the one thread that runs its (synchronous) body.
import CStrictrunShims
import Foundation
import Testing

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum Ptrace {
    static let seize: Int32 = 0x4206
    static let interrupt: Int32 = 0x4207
    static let cont: Int32 = 7
    static let optionTraceClone: Int = 0x8
    static let optionExitKill: Int = 0x100000
    static let eventClone: Int32 = 3
    static let eventStop: Int32 = 128
}

/// A stop as waitpid(2) reported it.
struct StopStatus {
    var raw: Int32
    var signal: Int32 { strictrun_wstopsig(raw) }
    var event: Int32 { strictrun_wptrace_event(raw) }
}

/// One traced process (seized, not forked by a tracer shim). Killed and reaped by `finish()`.
final class Tracee {
    let pid: pid_t
    private var threads: Set<pid_t>
    private var finished = false

    /// posix_spawn `argv`, then PTRACE_SEIZE it from the calling thread.
    init(_ argv: [String], options: Int = Ptrace.optionExitKill) throws {
        pid = try spawn(argv)
        threads = [pid]
        if strictrun_ptrace(Ptrace.seize, pid, nil, UnsafeMutableRawPointer(bitPattern: options)) != 0 {
            let code = errno
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = strictrun_waitpid_all(pid, &status, 0)
            throw TestFailure("PTRACE_SEIZE(\(pid)): errno \(code)")
        }
    }

    /// waitpid(tid) until it stops; fails if it exits.
    func waitStop(_ tid: pid_t) throws -> StopStatus {
        var status: Int32 = 0
        let got = strictrun_waitpid_all(tid, &status, 0)
        guard got == tid else { throw TestFailure("waitpid(\(tid)) = \(got), errno \(errno)") }
        guard strictrun_wifstopped(status) != 0 else {
            throw TestFailure("thread \(tid) ended (status 0x\(String(status, radix: 16))) instead of stopping")
        }
        return StopStatus(raw: status)
    }

    /// Resume `tid` without a signal.
    func resume(_ tid: pid_t) throws {
        guard strictrun_ptrace(Ptrace.cont, tid, nil, nil) == 0 else {
            throw TestFailure("PTRACE_CONT(\(tid)): errno \(errno)")
        }
    }

    /// PTRACE_INTERRUPT `tid` and wait for its PTRACE_EVENT_STOP, resuming any other stop
    /// (with its signal) on the way.
    func interrupt(_ tid: pid_t) throws {
        guard strictrun_ptrace(Ptrace.interrupt, tid, nil, nil) == 0 else {
            throw TestFailure("PTRACE_INTERRUPT(\(tid)): errno \(errno)")
        }
        for _ in 0..<100 {
            let stop = try waitStop(tid)
            if stop.event == Ptrace.eventStop { return }
            let signal = stop.event == 0 && stop.signal != SIGTRAP ? stop.signal : 0
            _ = strictrun_ptrace(Ptrace.cont, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal)))
        }
        throw TestFailure("thread \(tid) never reached the interrupt stop")
    }

    /// Wait for `tid`'s next signal-delivery-stop for `signal`, resuming other stops.
    /// Returns the tids of threads created meanwhile (PTRACE_EVENT_CLONE).
    func waitForSignal(_ tid: pid_t, _ signal: Int32) throws {
        for _ in 0..<100 {
            let stop = try waitStop(tid)
            if stop.event == 0 && stop.signal == signal { return }
            try resume(tid)
        }
        throw TestFailure("thread \(tid) never stopped with signal \(signal)")
    }

    /// Wait for the main thread's PTRACE_EVENT_CLONE and return the new thread's tid (left
    /// in its initial stop, which the caller consumes with `waitStop`).
    func waitForClone() throws -> pid_t {
        for _ in 0..<100 {
            let stop = try waitStop(pid)
            if stop.event == Ptrace.eventClone {
                var message: UInt = 0
                guard strictrun_geteventmsg(pid, &message) == 0 else { throw TestFailure("GETEVENTMSG: \(errno)") }
                let tid = pid_t(message)
                threads.insert(tid)
                return tid
            }
            try resume(pid)
        }
        throw TestFailure("no clone event")
    }

    /// True when `tid` is in a ptrace stop and this thread is its tracer: PTRACE_GETREGS only
    /// works then, /proc says "t (tracing stop)", and TracerPid (a thread id) is ours.
    func isStoppedAndTraced(_ tid: pid_t) -> Bool {
        var regs = user_regs_struct()
        guard strictrun_getregs(tid, &regs) == 0 else { return false }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8)) ?? ""
        let tracer = status.split(separator: "\n").first { $0.hasPrefix("TracerPid:") }
        return status.contains("State:\tt (tracing stop)")
            && tracer?.split(separator: "\t").last.map(String.init) == currentThreadID()
    }

    /// SIGKILL and reap every thread.
    func finish() {
        guard !finished else { return }
        finished = true
        kill(pid, SIGKILL)
        for tid in threads where tid != pid {
            var status: Int32 = 0
            _ = strictrun_waitpid_all(tid, &status, 0)
        }
        var status: Int32 = 0
        while true {
            let got = strictrun_waitpid_all(pid, &status, 0)
            if got < 0 || strictrun_wifexited(status) != 0 || strictrun_wifsignaled(status) != 0 { break }
        }
    }

    deinit { finish() }
}

/// The calling thread's id, from /proc/thread-self ("PID/task/TID").
func currentThreadID() -> String? {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"))?
        .split(separator: "/").last.map(String.init)
}

/// posix_spawn(argv[0] resolved through PATH by posix_spawnp), stdout/stderr to `output` or
/// /dev/null.
func spawn(_ argv: [String], output: String? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let out = output ?? "/dev/null"
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for arg in cArgs { free(arg) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, &cArgs, environ)
    guard rc == 0 else { throw TestFailure("posix_spawn \(argv[0]): \(rc)") }
    return pid
}

/// Run a command to completion; returns its stdout. Throws when it fails.
@discardableResult
func run(_ argv: [String]) throws -> String {
    let output = NSTemporaryDirectory() + "strictrun-stacks-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { unlink(output) }
    let pid = try spawn(argv, output: output)
    var status: Int32 = 0
    guard strictrun_waitpid_all(pid, &status, 0) == pid else { throw TestFailure("waitpid \(argv[0])") }
    guard strictrun_wifexited(status) != 0, strictrun_wexitstatus(status) == 0 else {
        throw TestFailure("\(argv.joined(separator: " ")) failed (status \(status))")
    }
    return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
}

/// A scratch directory removed on deinit.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "strictrun-stacks-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp: \(errno)") }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The C program the stack tests stop: `leaf_a`/`leaf_b` ← `middle_fn` ← `main`, and a thread
/// `thread_leaf` ← `thread_middle` ← `thread_main`. It waits until it is traced, then stops
/// itself with raise(SIGSTOP) at a known line. Markers `/*@NAME*/` name the lines.
enum StopProgram {
    static let source = """
    #include <dlfcn.h>
    #include <pthread.h>
    #include <signal.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <unistd.h>

    static int traced(void) {
        char line[256];
        int tracer = 0;
        FILE *f = fopen("/proc/self/status", "r");
        if (!f) return 0;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "TracerPid:", 10) == 0) tracer = atoi(line + 10);
        fclose(f);
        return tracer != 0;
    }

    __attribute__((noinline)) void leaf_a(void) {
        raise(SIGSTOP); /*@RAISE_A*/
    }

    __attribute__((noinline)) void leaf_b(void) {
        raise(SIGSTOP); /*@RAISE_B*/
    }

    __attribute__((noinline)) void middle_fn(int which) {
        if (which)
            leaf_b(); /*@CALL_B*/
        else
            leaf_a(); /*@CALL_A*/
    }

    __attribute__((noinline)) void thread_leaf(void) {
        raise(SIGSTOP); /*@THREAD_RAISE*/
    }

    __attribute__((noinline)) void thread_middle(void) {
        thread_leaf(); /*@THREAD_CALL*/
    }

    static void *thread_main(void *arg) {
        (void)arg;
        thread_middle();
        return NULL;
    }

    typedef void (*plugin_fn)(void);

    int main(int argc, char **argv) {
        const char *mode = argc > 1 ? argv[1] : "a";
        while (!traced()) usleep(1000);
        if (strcmp(mode, "dlopen") == 0 && argc > 2) {
            raise(SIGSTOP); /*@BEFORE_DLOPEN*/
            void *handle = dlopen(argv[2], RTLD_NOW);
            if (!handle) return 3;
            plugin_fn entry = (plugin_fn)dlsym(handle, "plugin_entry");
            if (!entry) return 4;
            entry(); /*@CALL_PLUGIN*/
            return 0;
        }
        if (strcmp(mode, "thread") == 0) {
            pthread_t t;
            pthread_create(&t, NULL, thread_main, NULL);
            pthread_join(t, NULL); /*@JOIN*/
            return 0;
        }
        middle_fn(mode[0] == 'b'); /*@CALL_MIDDLE*/
        return 0;
    }

    """

    /// The 1-based line holding `/*@marker*/`.
    static func line(_ marker: String) -> Int {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        return (lines.firstIndex { $0.contains("/*@\(marker)*/") } ?? -1) + 1
    }

    /// Compile once per test process (cc -g -O0 -pthread); the directory is removed at exit.
    nonisolated(unsafe) private static var built: (ScratchDirectory, String)?
    private static let lock = NSLock()

    static func binary() throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let built { return built.1 }
        let dir = try ScratchDirectory()
        atexit { StopProgram.built = nil }
        let sourcePath = dir.path + "/stopper.c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let binaryPath = dir.path + "/stopper"
        try run(["cc", "-g", "-O0", "-fno-omit-frame-pointer", "-pthread", "-o", binaryPath, sourcePath])
        built = (dir, binaryPath)
        return binaryPath
    }

    /// A shared library for the "dlopen" mode: plugin_entry → plugin_leaf → raise(SIGSTOP).
    static let pluginSource = """
    #include <signal.h>
    __attribute__((noinline)) void plugin_leaf(void) { raise(SIGSTOP); }
    void plugin_entry(void) { plugin_leaf(); }

    """

    static func plugin() throws -> String {
        let dir = URL(fileURLWithPath: try binary()).deletingLastPathComponent().path
        let library = dir + "/libstopperplugin.so"
        if FileManager.default.fileExists(atPath: library) { return library }
        let sourcePath = dir + "/plugin.c"
        try pluginSource.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        try run(["cc", "-g", "-O0", "-fPIC", "-shared", "-o", library, sourcePath])
        return library
    }

    static var sourcePath: String {
        get throws { try (URL(fileURLWithPath: binary()).deletingLastPathComponent().path) + "/stopper.c" }
    }
}
