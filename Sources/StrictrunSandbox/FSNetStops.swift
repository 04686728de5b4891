#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims
import StrictrunPolicy
import StrictrunTrace

/// The tracer's side of the `fs` and `net` sections: the calls whose denial comes from a
/// namespace or Landlock (invisible to seccomp) run to their exit stop, and a failure the view
/// caused is logged there with its stack and the rule behind it.
extension Tracer {
    func fsNetStop(_ check: FSNetCheck, rule: CompiledRule, tid: pid_t, tgid: pid_t, nr: UInt64, args: [UInt64]) {
        let syscall = SyscallNames.name(Int32(truncatingIfNeeded: nr), arch: SyscallNames.archX86_64)
        switch check {
        case .pathResult:
            pathStop(rule: rule, tid: tid, tgid: tgid, syscall: syscall, nr: nr, args: args)
        case .socketAddress(let unixDirectories, let exitLog):
            socketAddressStop(rule: rule, tid: tid, tgid: tgid, syscall: syscall, nr: nr, args: args,
                              unixDirectories: unixDirectories, exitLog: exitLog)
        case .membershipResult:
            resumeToExit(tid) { [self] result in
                guard result < 0 else { return }
                logResult(rule, name: "multicast", errno: Int32(-result), tid: tid, tgid: tgid, syscall: syscall,
                          nr: nr, args: args, reason: "the isolated stack has no multicast route (loopback only)")
            }
        }
    }

    // MARK: paths

    private func pathStop(rule: CompiledRule, tid: pid_t, tgid: pid_t, syscall: String, nr: UInt64, args: [UInt64]) {
        guard let view = policy.confinement,
              let call = FSNetTables.pathCalls.first(where: { $0.name == syscall }) else {
            Ptrace.resume(tid)
            return
        }
        let index = call.paths[0]
        guard let path = TraceeMemory.string(pid: tid, at: args[index]), !path.isEmpty else {
            Ptrace.resume(tid)  // statx(fd, "", AT_EMPTY_PATH) and the like: no path, nothing to see
            return
        }
        let dirfd: Int32 = index == 0 ? AT_FDCWD : Int32(truncatingIfNeeded: args[index - 1])
        // Every open is traced here, so the W^X level's /proc/PID/mem check happens here too.
        if syscall.hasPrefix("open"), procMemRule != nil, Self.opensForWriting(tid: tid, nr: nr, args: args),
           deniedProcMemWrite(tid: tid, tgid: tgid, nr: nr, args: args, path: path,
                              resolved: openedPath(path, dirfd: dirfd, tid: tid, tgid: tgid)) { return }
        let writes = Self.writes(syscall: syscall, args: args)
        resumeToExit(tid) { [self] result in
            let absolute = absolutePath(path, dirfd: dirfd, pid: tgid)
            if result >= 0 {
                if view.passthrough.contains(where: { PathRules.isWithin(absolute, $0) }) {
                    var passthrough = rule
                    passthrough.name = "platform-passthrough"
                    passthrough.action = .log
                    record(rule: passthrough, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr,
                           args: args, decoded: [("path", .string(path))],
                           extra: [("reason", .string("a platform path the target serves another way"))],
                           withStack: false)  // expected start-up reads: reported, never worth an unwind
                }
                return
            }
            guard let (name, reason) = Self.viewRule(errno: Int32(-result), path: absolute, writes: writes, view: view)
            else { return }
            logResult(rule, name: name, errno: Int32(-result), tid: tid, tgid: tgid, syscall: syscall, nr: nr,
                      args: args, decoded: [("path", .string(path))], reason: reason)
        }
    }

    /// Which rule of the view made a path call fail with `errno`; nil when the view had no
    /// part in it (the file is missing on the host too, permissions, …).
    static func viewRule(errno code: Int32, path: String, writes: Bool,
                         view: ConfinementView) -> (String, String)? {
        let hidden = view.hidden.first { PathRules.isWithin(path, $0) }
        let granted = view.grants.first { PathRules.isWithin(path, $0.path) }
        let onHost = access(granted.map { $0.host + path.dropFirst($0.path.count) } ?? path, F_OK) == 0
        switch (code, view.mechanism) {
        case (EROFS, _):
            if let granted, !granted.writable { return ("read-only-grant", "granted read-only: \(granted.path)") }
            return ("read-only-image", "the image is read-only")
        case (ENOENT, .namespaces), (EACCES, .landlock):
            if let hidden, onHost, granted == nil { return ("hidden", "\(hidden) does not exist on the target") }
            if view.grantedOnly, granted == nil, onHost { return ("outside-grants", "not granted to the program") }
            if code == EACCES, let granted, !granted.writable, writes {
                return ("read-only-grant", "granted read-only: \(granted.path) (Landlock: EACCES)")
            }
            if code == EACCES, view.readOnlyImage, writes, granted?.writable != true {
                return ("read-only-image", "the image is read-only (Landlock: EACCES)")
            }
            return nil
        default:
            return nil
        }
    }

    /// Whether a path call asks to change the file tree (open for writing, mkdir, unlink…).
    static func writes(syscall: String, args: [UInt64]) -> Bool {
        let flags: UInt64
        switch syscall {
        case "open": flags = args[1]
        case "openat": flags = args[2]
        case "openat2": flags = TraceeMemoryFlags.openHowFlags(args) ?? 0
        case "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "chdir": return false
        default: return true
        }
        let accessMode: UInt64 = 0o3, create: UInt64 = 0o100, truncate: UInt64 = 0o1000
        return flags & accessMode != 0 || flags & (create | truncate) != 0
    }

    private func absolutePath(_ path: String, dirfd: Int32, pid: pid_t) -> String {
        guard !path.hasPrefix("/") else { return Self.normalized(path) }
        let link = dirfd == AT_FDCWD ? "/proc/\(pid)/cwd" : "/proc/\(pid)/fd/\(dirfd)"
        let base = (try? readLink(link)) ?? "/"
        return Self.normalized(base + "/" + path)
    }

    private func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { throw SystemError("readlink \(path)") }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    // MARK: sockets

    private func socketAddressStop(rule: CompiledRule, tid: pid_t, tgid: pid_t, syscall: String, nr: UInt64,
                                   args: [UInt64], unixDirectories: Bool, exitLog: Bool) {
        let address = args[1], length = args[2]
        if unixDirectories, syscall == "bind", let socketPath = Self.unixPath(pid: tid, address: address, length: length),
           let directories = policy.profile.fs?.unixSocketDirectories {
            let absolute = absolutePath(socketPath, dirfd: AT_FDCWD, pid: tgid)
            let directory = Self.normalized(absolute + "/..")
            if !directories.contains(directory) {
                record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args,
                       decoded: [("fd", .int(Int64(Int32(truncatingIfNeeded: args[0])))), ("path", .string(socketPath))],
                       extra: [("reason", .string("UNIX socket files only in \(directories.joined(separator: ", "))"))])
                perform(rule.action, tid: tid, tgid: tgid, syscall: syscall)
                return
            }
        }
        guard exitLog, let view = policy.confinement,
              let decoded = DecodedSockaddr.read(pid: tid, address: address, length: length) else {
            Ptrace.resume(tid)
            return
        }
        let port = UInt16(truncatingIfNeeded: decoded.endpoint.port)
        resumeToExit(tid) { [self] result in
            guard result < 0 else { return }
            let code = Int32(-result)
            let fields: [(String, JSONValue)] = [("fd", .int(Int64(Int32(truncatingIfNeeded: args[0])))),
                                                 ("address", .string(decoded.endpoint.description))]
            if code == EACCES, let ports = view.tcpPorts, !ports.contains(port) {
                logResult(rule, name: "tcp-port", errno: code, tid: tid, tgid: tgid, syscall: syscall, nr: nr,
                          args: args, decoded: fields,
                          reason: "TCP port \(port) is not allowed (\(ports.map(String.init).joined(separator: ",")))")
            } else if view.isolated, [EADDRNOTAVAIL, ENETUNREACH, EHOSTUNREACH].contains(code) {
                logResult(rule, name: "isolated-stack", errno: code, tid: tid, tgid: tgid, syscall: syscall, nr: nr,
                          args: args, decoded: fields, reason: "the target's stack: IPv4 loopback only")
            }
        }
    }

    /// The path of an AF_UNIX sockaddr (nil for other families and abstract names).
    static func unixPath(pid: pid_t, address: UInt64, length: UInt64) -> String? {
        guard address != 0, length > 2, length <= 110 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let n = bytes.withUnsafeMutableBytes { strictrun_read_memory(pid, address, $0.baseAddress, $0.count) }
        guard n == Int(length), UInt16(bytes[0]) | UInt16(bytes[1]) << 8 == UInt16(AF_UNIX), bytes[2] != 0 else {
            return nil
        }
        return String(decoding: bytes[2...].prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: events

    /// Records a failure the kernel returned (at the exit stop) under a refined rule.
    private func logResult(_ base: CompiledRule, name: String, errno code: Int32, tid: pid_t, tgid: pid_t,
                           syscall: String, nr: UInt64, args: [UInt64], decoded: [(String, JSONValue)]? = nil,
                           reason: String) {
        var rule = base
        rule.category = ["tcp-port", "isolated-stack", "multicast"].contains(name) ? "net" : "fs"
        rule.name = name
        rule.action = .deny(errno: code)
        let mechanism = policy.confinement?.mechanism.rawValue ?? "kernel"
        record(rule: rule, tid: tid, tgid: tgid, syscall: syscall, abi: "x86_64", nr: nr, args: args, decoded: decoded,
               extra: [("reason", .string(reason)), ("mechanism", .string(mechanism))])
    }
}

/// openat2's flags live in its `struct open_how`, in the program's memory.
enum TraceeMemoryFlags {
    static func openHowFlags(_ args: [UInt64]) -> UInt64? { nil }
}
