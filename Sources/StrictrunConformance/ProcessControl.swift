#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrictrunSystem
import StrictrunResults

/// A failed libc or kernel call: the operation and its errno.
public struct SystemCallError: Error, Sendable, CustomStringConvertible {
    /// The call and its subject, e.g. `posix_spawn /usr/bin/node`.
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// How a child process ended (`waitpid` status, decoded).
public enum Termination: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        let signal = status & 0x7F
        self = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }
}

/// What to start: an absolute executable, its argv, environment, working directory and one
/// file that receives both stdout and stderr (stdin is `/dev/null`).
struct SpawnRequest {
    var executable: String
    var argv: [String]
    var environment: [String: String]
    var directory: String
    var outputPath: String
}

/// Every libc call of the conformance runner, and only here: `posix_spawn` into a new process
/// group, waiting with a deadline (`pidfd_open` + `poll`, or `waitid` polling on old libcs),
/// `kill` of a whole group, and `sigwait` for Ctrl-C.
enum ProcessControl {
    /// Start `request` as the leader of a new process group, with every signal unblocked and
    /// at its default disposition (strictrun blocks SIGINT/SIGTERM/SIGHUP/SIGQUIT in itself).
    /// Calls `posix_spawn(3)` with `POSIX_SPAWN_SETPGROUP|SETSIGMASK|SETSIGDEF`.
    static func spawn(_ request: SpawnRequest) throws(SystemCallError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        guard let addChdir = addChdirFunction else {
            throw SystemCallError(operation: "posix_spawn_file_actions_addchdir_np (needs glibc 2.29)", errno: ENOSYS)
        }
        var rc = addChdir(&actions, request.directory)
        if rc != 0 { throw SystemCallError(operation: "chdir \(request.directory)", errno: rc) }
        rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if rc != 0 { throw SystemCallError(operation: "open /dev/null", errno: rc) }
        rc = posix_spawn_file_actions_addopen(&actions, 1, request.outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if rc != 0 { throw SystemCallError(operation: "open \(request.outputPath)", errno: rc) }
        rc = posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if rc != 0 { throw SystemCallError(operation: "dup2", errno: rc) }

        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var argv: [UnsafeMutablePointer<CChar>?] = request.argv.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = request.environment.sorted { $0.key < $1.key }
            .map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        rc = posix_spawn(&pid, request.executable, &actions, &attributes, &argv, &envp)
        if rc != 0 { throw SystemCallError(operation: "posix_spawn \(request.executable)", errno: rc) }
        return pid
    }

    /// What `wait(for:deadline:stop:)` saw.
    enum WaitResult {
        case ended(Termination)
        case deadline
        case stopped
    }

    /// Wait for `pid` to end, the deadline to pass, or `stop()` to turn true (checked at least
    /// every 100 ms). The child is reaped only in `.ended`; before reaping, its whole process
    /// group is sent SIGKILL (stragglers a test left behind), while the zombie leader still
    /// holds the group id so it cannot be reused.
    static func wait(for pid: pid_t, deadline: ContinuousClock.Instant?, stop: () -> Bool) -> WaitResult {
        let pidfd = pidfdOpen.map { $0(pid, 0) } ?? -1
        defer { if pidfd >= 0 { close(pidfd) } }
        var pause: Int32 = 1
        while true {
            if hasEnded(pid) {
                killGroup(pid, SIGKILL)
                return .ended(reap(pid))
            }
            if stop() { return .stopped }
            var slice: Int32 = 100
            if let deadline {
                let left = ContinuousClock.now.duration(to: deadline)
                if left <= .zero { return .deadline }
                let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
                slice = Int32(max(1, min(Int64(slice), ms + 1)))
            }
            if pidfd >= 0 {
                var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&entry, 1, slice)
            } else {
                // No pidfd_open in this libc: poll the child's state, backing off to 10 ms.
                usleep(UInt32(min(pause, slice)) * 1000)
                pause = min(pause * 2, 10)
            }
        }
    }

    /// Whether `pid` has ended, without reaping it (`waitid(P_PID, WEXITED|WNOHANG|WNOWAIT)`).
    static func hasEnded(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        var rc: Int32
        repeat {
            rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
        } while rc < 0 && errno == EINTR
        if rc < 0 { return errno == ECHILD }
        return info._sifields._sigchld.si_pid == pid
    }

    /// Reap `pid` (`waitpid`, retried on EINTR).
    static func reap(_ pid: pid_t) -> Termination {
        var status: Int32 = 0
        var rc: pid_t
        repeat {
            rc = waitpid(pid, &status, 0)
        } while rc < 0 && errno == EINTR
        return rc == pid ? Termination(waitStatus: status) : .exited(255)
    }

    /// `kill(-pgid, signal)`: every process of the group `pgid` leads. ESRCH (none left) is fine.
    static func killGroup(_ pgid: pid_t, _ signal: Int32) {
        _ = kill(-pgid, signal)
    }

    /// Ends a run that must stop (its timeout, or the runner stopping): SIGTERM to its group, SIGKILL
    /// two seconds later if it is still there; reaped either way.
    @discardableResult
    static func terminate(_ pid: pid_t) -> Termination? {
        killGroup(pid, SIGTERM)
        let grace = ContinuousClock.now.advanced(by: .seconds(2))
        if case .ended(let ended) = wait(for: pid, deadline: grace, stop: { false }) { return ended }
        killGroup(pid, SIGKILL)
        return reap(pid)
    }

    /// Run `argv` natively to the end and return its combined output (for `variables:` and
    /// `tests.command` of a suite). Killed after `timeout` seconds.
    static func capture(_ argv: [String], environment: [String: String], directory: String,
                        timeout: Double = 120) throws(SystemCallError) -> (Termination?, String) {
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("strictrun-capture-\(getpid())-\(UUID().uuidString.prefix(8))").path
        defer { unlink(output) }
        let executable = try resolve(argv[0], path: environment["PATH"])
        let pid = try spawn(SpawnRequest(executable: executable, argv: argv, environment: environment,
                                         directory: directory, outputPath: output))
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(timeout * 1000)))
        var termination: Termination?
        switch wait(for: pid, deadline: deadline, stop: { false }) {
        case .ended(let ended): termination = ended
        case .deadline, .stopped:
            killGroup(pid, SIGKILL)
            _ = reap(pid)
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return (termination, text)
    }

    /// The absolute path `program` names: itself when it has a slash, else the first
    /// executable match in `path` (colon-separated, as `execvp` searches). Throws ENOENT or EACCES.
    static func resolve(_ program: String, path: String?, directory: String? = nil) throws(SystemCallError) -> String {
        if program.contains("/") {
            var candidate = program
            if !program.hasPrefix("/"), let directory { candidate = directory + "/" + program }
            if access(candidate, X_OK) == 0 { return candidate }
            throw SystemCallError(operation: "\(program)", errno: errno)
        }
        var sawDenied = false
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + program
            var info = stat()
            guard stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
            sawDenied = true
        }
        throw SystemCallError(operation: "\(program) (searched PATH)", errno: sawDenied ? EACCES : ENOENT)
    }

    /// Take an exclusive lock on `path` (`open` + `flock(LOCK_EX|LOCK_NB)`): the descriptor that
    /// holds it (the kernel drops the lock when the process ends), or nil when another process holds it.
    static func lockFile(_ path: String) throws(SystemCallError) -> Int32? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw SystemCallError(operation: "open \(path)", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return fd }
        let saved = errno
        close(fd)
        if saved == EWOULDBLOCK { return nil }
        throw SystemCallError(operation: "flock \(path)", errno: saved)
    }

    /// `close(fd)` (a negative one is ignored).
    static func closeDescriptor(_ fd: Int32) {
        if fd >= 0 { close(fd) }
    }

    /// Whether standard error is a terminal (`isatty(2)`).
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Block SIGINT, SIGTERM and SIGHUP in the calling thread (threads it starts inherit the
    /// mask) and call `handler` on a dedicated thread with each one that arrives (`sigwait`).
    static func watchSignals(_ handler: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        let thread = Thread {
            var set = watched
            while true {
                var signal: Int32 = 0
                if sigwait(&set, &signal) == 0 { handler(signal) }
            }
        }
        thread.start()
    }

    /// The name of signal `number` (`SIGSEGV`): the one signal table (`Xlat`).
    static func signalName(_ number: Int32) -> String { Xlat.signalName(number) }

    // glibc declares these only under _GNU_SOURCE (addchdir_np) or in <sys/pidfd.h>, which the
    // Swift Glibc module does not import: look them up once by name.
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?,
                                                 UnsafePointer<CChar>?) -> Int32
    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    private static let addChdirFunction: AddChdir? = dlsym(UnsafeMutableRawPointer(bitPattern: 0),
                                                           "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }
    private static let pidfdOpen: PidfdOpen? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_open")
        .map { unsafeBitCast($0, to: PidfdOpen.self) }
}

/// Ctrl-C, SIGTERM and SIGHUP for a long run: call `handler` on a dedicated thread with each one
/// (the signals are blocked everywhere else; strictrun's `main` blocks them before any thread exists).
public enum SignalWatch {
    public static func start(_ handler: @escaping @Sendable (Int32) -> Void) {
        ProcessControl.watchSignals(handler)
    }
}
