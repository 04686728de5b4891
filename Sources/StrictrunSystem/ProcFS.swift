#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// The one reader of `/proc` (and of the host's files the tracer must look at): whole small
/// files, links, a task's thread group, a path's filesystem type. Paths and link targets are
/// bytes; `/proc/PID/…` names are ASCII.
public enum ProcFS {
    /// The whole content of a small file (procfs files report size 0), EINTR retried.
    public static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    /// readlink(2) of `path`, as bytes; nil when it is not a readable link.
    public static func readLink(_ path: [UInt8]) -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = (path + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { readlink($0.baseAddress!, &buffer, 4096) }
        }
        guard n > 0 else { return nil }
        return buffer[0..<n].map { UInt8(bitPattern: $0) }
    }

    public static func readLink(_ path: String) -> [UInt8]? { readLink(Array(path.utf8)) }

    /// realpath(3) of `path`: the canonical path, nil when it does not exist.
    public static func realPath(_ path: [UInt8]) -> [UInt8]? {
        (path + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { pointer -> [UInt8]? in
                guard let resolved = realpath(pointer.baseAddress!, nil) else { return nil }
                defer { free(resolved) }
                return Array(UnsafeBufferPointer(start: resolved, count: strlen(resolved))).map { UInt8(bitPattern: $0) }
            }
        }
    }

    /// Whether `path` exists on the host (access(2), F_OK).
    public static func exists(_ path: [UInt8]) -> Bool {
        (path + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { access($0.baseAddress!, F_OK) == 0 }
        }
    }

    /// statfs(2)'s f_type of the filesystem holding `path`; nil when it cannot be stat'ed.
    public static func fileSystemType(_ path: [UInt8]) -> Int? {
        let type = (path + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { strictrun_fs_type($0.baseAddress!) }
        }
        return type < 0 ? nil : Int(type)
    }

    /// The file `path` names (stat(2), or lstat(2) when not `follow`): device and inode.
    public static func identity(_ path: [UInt8], follow: Bool) -> FileIdentity? {
        var info = stat()
        let rc = (path + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { follow ? stat($0.baseAddress!, &info) : lstat($0.baseAddress!, &info) }
        }
        return rc == 0 ? FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
    }

    /// PROC_SUPER_MAGIC.
    public static let procSuperMagic = 0x9fa0

    /// The program file of a process (readlink /proc/PID/exe), for display.
    public static func executable(pid: pid_t) -> String? { readLink("/proc/\(pid)/exe")?.displayText }

    /// The argv of a process (/proc/PID/cmdline), as bytes.
    public static func commandLine(pid: pid_t) -> [[UInt8]]? {
        guard let bytes = read("/proc/\(pid)/cmdline") else { return nil }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map(Array.init)
    }

    /// The number after `key` (`Tgid:`, `Pid:`, `flags:`) in a `key:\tvalue` file of /proc
    /// (status, fdinfo), in `radix`; nil when the key is absent.
    static func field(_ key: String, in text: [UInt8], radix: Int = 10) -> UInt64? {
        for line in text.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array(key.utf8)) {
            let value = line.dropFirst(key.utf8.count).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            return UInt64(String(decoding: value, as: UTF8.self), radix: radix)
        }
        return nil
    }

    /// The thread group of a task (`Tgid:` of /proc/TID/status).
    public static func threadGroup(of tid: pid_t) -> pid_t? {
        read("/proc/\(tid)/status").flatMap { field("Tgid:", in: $0) }.map { pid_t(truncatingIfNeeded: $0) }
    }

    /// The parent of a process (`PPid:` of /proc/PID/status).
    public static func parent(of pid: pid_t) -> pid_t? {
        read("/proc/\(pid)/status").flatMap { field("PPid:", in: $0) }.map { pid_t(truncatingIfNeeded: $0) }
    }

    /// The process group of a process (field 5 of /proc/PID/stat, after the command's `)`).
    public static func processGroup(of pid: pid_t) -> pid_t? {
        guard let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        return fields.count > 2 ? pid_t(String(decoding: fields[2], as: UTF8.self)) : nil
    }

    /// The process a descriptor of `pid` stands for: a pidfd (`Pid:` of its fdinfo) or a
    /// `/proc/N` directory (pidfd_send_signal takes both); nil for anything else.
    public static func processOfDescriptor(pid: pid_t, fd: Int32) -> pid_t? {
        if let info = read("/proc/\(pid)/fdinfo/\(fd)"), let value = field("Pid:", in: info) {
            return pid_t(truncatingIfNeeded: value)
        }
        guard let target = descriptorPath(pid: pid, fd: fd), target.starts(with: Array("/proc/".utf8)) else { return nil }
        let rest = target.dropFirst(6)
        guard !rest.isEmpty, rest.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return pid_t(String(decoding: rest, as: UTF8.self))
    }

    /// The size of System V shared memory segment `id` (/proc/sysvipc/shm), nil when unknown.
    public static func sharedMemorySize(id: Int32) -> UInt64? {
        guard let table = read("/proc/sysvipc/shm") else { return nil }
        for line in table.split(separator: UInt8(ascii: "\n")).dropFirst() {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count > 3, Int32(String(decoding: fields[1], as: UTF8.self)) == id else { continue }
            return UInt64(String(decoding: fields[3], as: UTF8.self))
        }
        return nil
    }

    /// The open descriptors of `pid` that reach `file` (every one when nil): /proc/PID/fd stat'ed
    /// through the links, access mode from /proc/PID/fdinfo. Descriptors that vanish meanwhile
    /// are left out.
    public static func descriptors(pid: pid_t, of wanted: FileIdentity? = nil) -> [OpenDescriptor] {
        guard let directory = opendir("/proc/\(pid)/fd") else { return [] }
        defer { closedir(directory) }
        var out: [OpenDescriptor] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), let file = identity(Array("/proc/\(pid)/fd/\(fd)".utf8), follow: true),
                  wanted == nil || file == wanted, let info = read("/proc/\(pid)/fdinfo/\(fd)") else { continue }
            let flags = field("flags:", in: info, radix: 8) ?? 0
            out.append(OpenDescriptor(fd: fd, file: file, writable: flags & 0o3 != 0))
        }
        return out
    }

    /// Whether `pid` has a descriptor on the socket with inode `inode` (its fd link reads `socket:[INODE]`).
    public static func holdsSocket(pid: pid_t, inode: UInt64) -> Bool {
        guard let directory = opendir("/proc/\(pid)/fd") else { return false }
        defer { closedir(directory) }
        let link = Array("socket:[\(inode)]".utf8)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name), readLink("/proc/\(pid)/fd/\(fd)") == link { return true }
        }
        return false
    }

    /// The seals of a memfd descriptor of `pid` (F_GET_SEALS on a read-only reopening through
    /// /proc/PID/fd/N); nil when it has none to read (not a memfd, or gone).
    public static func seals(pid: pid_t, fd: Int32) -> Int32? {
        let own = open("/proc/\(pid)/fd/\(fd)", O_RDONLY | O_CLOEXEC)
        guard own >= 0 else { return nil }
        defer { close(own) }
        let seals = fcntl(own, 1034 /* F_GET_SEALS */)
        return seals < 0 ? nil : seals
    }

    /// The working directory of a process, as the program sees it (/proc/PID/cwd).
    public static func workingDirectory(pid: pid_t) -> [UInt8]? { readLink("/proc/\(pid)/cwd") }

    /// The path an open descriptor of a process names (/proc/PID/fd/N).
    public static func descriptorPath(pid: pid_t, fd: Int32) -> [UInt8]? { readLink("/proc/\(pid)/fd/\(fd)") }
}

/// A file as the kernel knows it, whatever name reaches it.
public struct FileIdentity: Sendable, Hashable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// From a maps line's `major:minor inode` (glibc's makedev encoding of st_dev).
    public init(major: UInt32, minor: UInt32, inode: UInt64) {
        let major = UInt64(major), minor = UInt64(minor)
        device = (major & 0xffff_f000) << 32 | (major & 0xfff) << 8 | (minor & 0xffff_ff00) << 12 | (minor & 0xff)
        self.inode = inode
    }
}

extension Mapping {
    /// The file a mapping shows (nil for anonymous memory).
    public var file: FileIdentity? {
        inode == 0 ? nil : FileIdentity(major: deviceMajor, minor: deviceMinor, inode: inode)
    }
}

/// An open descriptor of a process: the file it reaches and whether it can write it.
public struct OpenDescriptor: Sendable, Hashable {
    public var fd: Int32
    public var file: FileIdentity
    /// O_WRONLY or O_RDWR (from fdinfo's `flags`).
    public var writable: Bool

    public init(fd: Int32, file: FileIdentity, writable: Bool) {
        self.fd = fd
        self.file = file
        self.writable = writable
    }
}
