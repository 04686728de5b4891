#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// What reading a file for a check found (`FileContents`).
public enum FileRead: Sendable, Equatable {
    /// A regular file, whole (no larger than the limit asked for).
    case read(FileIdentity, [UInt8])
    /// A file that was not read: not a regular file (directory, FIFO, device, socket), empty (procfs
    /// files say 0), larger than the limit, or its first bytes were not wanted.
    case notRead(FileIdentity)
    /// Nothing at that path (ENOENT, ENOTDIR).
    case missing
    /// The path could not be looked up as its process would look it up — a magic link on the way
    /// (`/proc/PID/fd/N`, `/dev/stdin`, `/proc/self/root`…: they name a file for whoever opens them),
    /// a relative path that leaves its directory (`..`, an absolute symlink), a loop — or the file
    /// could not be opened or read (the errno).
    case unresolved(errno: Int32)
}

/// Reading a file a traced process names, for a check: looked up with openat2 below the process's
/// own root or working directory (through `/proc/PID/root`, `/proc/PID/cwd`, `/proc/PID/fd/N`), never
/// through a magic link, opened `O_PATH` first (opening a device or a FIFO can have effects; a path
/// opens nothing), and read only when it is a regular file: reopened read-only through
/// `/proc/self/fd/N` (the same inode that was checked), `O_NONBLOCK|O_NOATIME` (no access time left
/// behind when allowed), EINTR retried.
public enum FileContents {
    /// Where a lookup starts: a process's root (absolute paths: `..` and absolute symlinks stay in
    /// it, as for the process) or a directory (relative paths: the lookup may not leave it, since
    /// the process's root is not known there).
    public enum Start: Sendable {
        case root
        case directory
    }

    /// The file `path` names below `start` (a `/proc/PID/root`, `/proc/PID/cwd` or `/proc/PID/fd/N`
    /// link), read when it is a regular file of at most `limit` bytes whose first bytes (up to 4 KiB)
    /// `wanted` accepts. `followLast: false` is O_NOFOLLOW.
    public static func read(below start: [UInt8], _ path: [UInt8], from kind: Start, followLast: Bool, limit: Int,
                            wanted: ([UInt8]) -> Bool) -> FileRead {
        let base = (start + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { strictrun_open_path($0.baseAddress!, 1) }
        }
        guard base >= 0 else { return .unresolved(errno: errno) }
        defer { close(base) }
        let fd = (path + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) {
                strictrun_open_path_below(base, $0.baseAddress!, followLast ? 1 : 0, kind == .root ? 1 : 0)
            }
        }
        guard fd >= 0 else {
            let code = errno
            return code == ENOENT || code == ENOTDIR ? .missing : .unresolved(errno: code)
        }
        defer { close(fd) }
        return contents(of: fd, limit: limit, wanted: wanted)
    }

    /// The file an open of `path` by a process reaches: absolute, below its `root` (`/proc/PID/root`);
    /// relative, below its `directory` (`/proc/PID/cwd` or `/proc/PID/fd/N`). A relative path that
    /// leaves its directory (`..`, an absolute symlink) is looked up again from the root as the
    /// directory's path joined with it, where that root is strictrun's own (the directory's link then
    /// names it in the same tree); elsewhere it stays unresolved.
    public static func read(_ path: [UInt8], root: [UInt8], directory: [UInt8], followLast: Bool, limit: Int,
                            wanted: ([UInt8]) -> Bool) -> FileRead {
        if path.first == UInt8(ascii: "/") {
            return read(below: root, path, from: .root, followLast: followLast, limit: limit, wanted: wanted)
        }
        let beneath = read(below: directory, path, from: .directory, followLast: followLast, limit: limit, wanted: wanted)
        guard case .unresolved(let code) = beneath, code == EXDEV, let base = ProcFS.readLink(directory),
              base.first == UInt8(ascii: "/"), let own = ProcFS.identity(root, follow: true),
              own == ProcFS.identity(Array("/".utf8), follow: true) else { return beneath }
        let again = read(below: root, base + [UInt8(ascii: "/")] + path, from: .root, followLast: followLast, limit: limit,
                         wanted: wanted)
        return again == .missing ? beneath : again  // a directory gone since (`(deleted)`) proves nothing
    }

    /// The file a descriptor link (`/proc/PID/fd/N`) stands for, read likewise.
    public static func read(link: [UInt8], limit: Int, wanted: ([UInt8]) -> Bool) -> FileRead {
        let fd = (link + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { strictrun_open_path($0.baseAddress!, 0) }
        }
        guard fd >= 0 else { return .unresolved(errno: errno) }
        defer { close(fd) }
        return contents(of: fd, limit: limit, wanted: wanted)
    }

    /// fstat of an O_PATH descriptor, then its content through a read-only reopen.
    private static func contents(of pathFD: Int32, limit: Int, wanted: ([UInt8]) -> Bool) -> FileRead {
        var info = stat()
        guard fstat(pathFD, &info) == 0 else { return .unresolved(errno: errno) }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        let size = Int(info.st_size)
        guard info.st_mode & S_IFMT == S_IFREG, size > 0, size <= limit else { return .notRead(identity) }
        let fd = strictrun_reopen_for_reading(pathFD)
        guard fd >= 0 else { return .unresolved(errno: errno) }
        defer { close(fd) }
        // The size fstat gave: what the file holds when it is judged (it can change after the check
        // anyway, and only by whoever may write it).
        var failure: Int32 = 0
        var skipped = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = readFully(fd, into: buffer, from: 0, upTo: min(size, 4096), failure: &failure)
            guard failure == 0 else { return }
            guard wanted(Array(buffer[0..<count])) else {
                skipped = true
                return
            }
            count = readFully(fd, into: buffer, from: count, upTo: size, failure: &failure)
        }
        guard failure == 0 else { return .unresolved(errno: failure) }
        return skipped ? .notRead(identity) : .read(identity, bytes)
    }

    /// read(2) into `buffer` from offset `start` until `total` bytes or the end of the file; the
    /// count reached (errno in `failure` on an error).
    private static func readFully(_ fd: Int32, into buffer: UnsafeMutableBufferPointer<UInt8>, from start: Int,
                                  upTo total: Int, failure: inout Int32) -> Int {
        var count = start
        while count < total {
            let n = Glibc.read(fd, buffer.baseAddress! + count, total - count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { failure = errno; break }
            if n == 0 { break }
            count += n
        }
        return count
    }

    /// Writes all of `bytes` to `fd` (retrying short writes and EINTR): 0, or the errno that stopped it.
    public static func write(_ bytes: [UInt8], to fd: Int32) -> Int32 {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return n < 0 ? errno : EIO }
            written += n
        }
        return 0
    }
}
