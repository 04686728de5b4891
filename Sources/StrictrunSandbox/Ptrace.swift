#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// ptrace requests and events strictrun uses (sys/ptrace.h, linux/ptrace.h), and one
/// Swift wrapper per request. Every call must come from the tracer thread.
enum Ptrace {
    static let cont: Int32 = 7
    static let syscall: Int32 = 24
    static let kill: Int32 = 8
    static let setOptions: Int32 = 0x4200
    static let getSigInfo: Int32 = 0x4202
    static let setSigInfo: Int32 = 0x4203
    static let singleStep: Int32 = 9

    enum Event: Int32 {
        case fork = 1, vfork = 2, clone = 3, exec = 4, vforkDone = 5, exit = 6, seccomp = 7, stop = 128
    }

    /// PTRACE_CONT, delivering `signal` (0 for none). ESRCH (the task died meanwhile) is
    /// not an error: its exit is reported by waitpid.
    static func resume(_ tid: pid_t, signal: Int32 = 0) {
        _ = strictrun_ptrace(cont, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal)))
    }

    /// PTRACE_SYSCALL from a seccomp stop: the thread runs the call and stops again at its
    /// syscall-exit-stop (reported as SIGTRAP|0x80, PTRACE_O_TRACESYSGOOD).
    static func resumeToExit(_ tid: pid_t) {
        _ = strictrun_ptrace(syscall, tid, nil, nil)
    }

    /// The stop signal of a syscall-stop under PTRACE_O_TRACESYSGOOD.
    static let syscallStopSignal: Int32 = SIGTRAP | 0x80

    /// The return value at a syscall-exit-stop (rax: -errno on failure).
    static func syscallResult(_ tid: pid_t) -> Int64? {
        var regs = user_regs_struct()
        guard strictrun_getregs(tid, &regs) == 0 else { return nil }
        return Int64(bitPattern: regs.rax)
    }

    /// PTRACE_SETOPTIONS.
    static func setOptions(_ tid: pid_t, _ options: Int32) throws(SystemError) {
        try valueOrErrno("ptrace(PTRACE_SETOPTIONS, \(tid))") {
            strictrun_ptrace(setOptions, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(options)))
        }
    }

    /// PTRACE_GETEVENTMSG: the new task's id after a clone/fork/vfork event, the former
    /// thread id after an exec event.
    static func eventMessage(_ tid: pid_t) -> UInt {
        var message: UInt = 0
        _ = strictrun_geteventmsg(tid, &message)
        return message
    }

    /// Whether a stop is a group-stop rather than a signal-delivery-stop: PTRACE_GETSIGINFO
    /// fails with EINVAL in a group-stop.
    static func isGroupStop(_ tid: pid_t) -> Bool {
        var info = siginfo_t()
        return strictrun_ptrace(getSigInfo, tid, nil, &info) < 0 && errno == EINVAL
    }

    /// PTRACE_GET_SYSCALL_INFO at a seccomp stop.
    static func syscallInfo(_ tid: pid_t) throws(SystemError) -> strictrun_syscall_info {
        var info = strictrun_syscall_info()
        try valueOrErrno("ptrace(PTRACE_GET_SYSCALL_INFO, \(tid))") { strictrun_get_syscall_info(tid, &info) }
        return info
    }

    /// Make the syscall a tracee is stopped in return `-errno` without running it.
    static func skipSyscall(_ tid: pid_t, errno code: Int32) throws(SystemError) {
        try valueOrErrno("ptrace(PTRACE_SETREGS, \(tid))") { strictrun_skip_syscall(tid, -Int(code)) }
    }
}

/// The status waitpid reported for one task.
enum WaitStatus {
    case exited(code: Int32)
    case signaled(signal: Int32)
    case stopped(signal: Int32, event: Ptrace.Event?)

    init(_ raw: Int32) {
        if strictrun_wifexited(raw) != 0 {
            self = .exited(code: strictrun_wexitstatus(raw))
        } else if strictrun_wifsignaled(raw) != 0 {
            self = .signaled(signal: strictrun_wtermsig(raw))
        } else {
            let event = strictrun_wptrace_event(raw)
            self = .stopped(signal: strictrun_wstopsig(raw), event: event == 0 ? nil : Ptrace.Event(rawValue: event))
        }
    }
}

/// Reads a stopped tracee's memory and /proc files. Tracee memory is hostile input:
/// every read can fail or return garbage, and then the decoder shows what it could.
enum TraceeMemory {
    /// A NUL-terminated string at `address`, at most `limit` bytes; nil when unreadable.
    static func string(pid: pid_t, at address: UInt64, limit: Int = 4096) -> String? {
        guard address != 0 else { return nil }
        var bytes: [UInt8] = []
        var cursor = address
        while bytes.count < limit {
            // Never cross a page boundary in one read: the next page may be unmapped.
            let pageRest = Int(4096 - cursor % 4096)
            var chunk = [UInt8](repeating: 0, count: min(pageRest, limit - bytes.count))
            let n = chunk.withUnsafeMutableBytes { strictrun_read_memory(pid, cursor, $0.baseAddress, $0.count) }
            if n <= 0 { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if let end = chunk[0..<n].firstIndex(of: 0) {
                bytes.append(contentsOf: chunk[0..<end])
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.append(contentsOf: chunk[0..<n])
            cursor += UInt64(n)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A NULL-terminated array of string pointers (argv), at most `limit` entries.
    static func stringArray(pid: pid_t, at address: UInt64, limit: Int = 64) -> [String]? {
        guard address != 0 else { return nil }
        var out: [String] = []
        for index in 0..<limit {
            var pointer: UInt64 = 0
            let n = strictrun_read_memory(pid, address + UInt64(index * 8), &pointer, 8)
            if n != 8 { return out.isEmpty ? nil : out }
            if pointer == 0 { return out }
            out.append(string(pid: pid, at: pointer) ?? "<unreadable>")
        }
        out.append("…")
        return out
    }

    /// The whole content of a small /proc file.
    static func procFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// readlink(/proc/PID/exe).
    static func executable(pid: pid_t) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// realpath(3): the canonical path, nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether a resolved path is some process's `mem` file on a procfs mount.
    static func isProcMem(_ path: String) -> Bool {
        guard path.hasSuffix("/mem") else { return false }
        let procSuperMagic = 0x9fa0
        return strictrun_fs_type(path) == procSuperMagic
    }

    /// The thread group of a task (/proc/TID/status `Tgid:`).
    static func threadGroup(of tid: pid_t) -> pid_t? {
        guard let status = procFile("/proc/\(tid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Tgid:") {
            return pid_t(line.dropFirst(5).trimmingCharacters(in: " \t"))
        }
        return nil
    }

    /// What the mappings over [start, start+length) are (/proc/PID/maps): whether every
    /// mapped part is already executable, and whether any part is shared memory. Unmapped
    /// parts do not count: the kernel answers ENOMEM for them.
    static func regionFlags(pid: pid_t, start: UInt64, length: UInt64) -> (allExecutable: Bool, shared: Bool) {
        guard let maps = procFile("/proc/\(pid)/maps") else { return (false, false) }
        let end = start &+ ((length + 4095) & ~4095)
        var allExecutable = true
        var shared = false
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let lo = UInt64(range[0], radix: 16), let hi = UInt64(range[1], radix: 16)
            else { continue }
            if hi <= start || lo >= end { continue }
            let perms = Array(fields[1].utf8)
            if perms.count >= 4 {
                if perms[2] != UInt8(ascii: "x") { allExecutable = false }
                if perms[3] == UInt8(ascii: "s") { shared = true }
            }
        }
        return (allExecutable, shared)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let first = s.first, set.contains(first) { s = s.dropFirst() }
        while let last = s.last, set.contains(last) { s = s.dropLast() }
        return s
    }
}
